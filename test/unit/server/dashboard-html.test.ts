/** The dashboard's HTML: every value is escaped, names and ids in addresses are checked. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { csrfToken, HttpError, parseJobId, parseName } from '../../../src/server/dashboard/index.js';
import { duration, html, money, raw } from '../../../src/server/dashboard/html.js';
import { clustersPage, loginPage } from '../../../src/server/dashboard/pages.js';

describe('dashboard html', () => {
  test('values are escaped; Html from the template is not escaped twice', () => {
    const evil = `<img src=x onerror="alert('x')">&`;
    const inner = html`<b>${evil}</b>`;
    assert.equal(
      html`<td>${inner}${[evil, 1]}${null}${undefined}${false}</td>`.text,
      '<td><b>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</b>' +
        '&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;1</td>',
    );
    assert.equal(html`${raw('<br>')}`.text, '<br>');
  });

  test('a page never carries a raw value from the records', () => {
    const out = clustersPage(
      { name: '<u>', role: 'admin', csrf: '"x' },
      [
        {
          rec: {
            name: 'a<b',
            cloud: 'local',
            region: '<r>',
            zone: null,
            status: 'UP',
            resources: { numNodes: 1 } as never,
            nodes: [],
            launchedAt: 1,
            statusUpdatedAt: 1,
            hourlyPrice: 0,
            autostop: null,
            headIp: null,
          },
          resources: '<script>',
          owner: '"o"',
          cost: 0,
        },
      ],
      10_000,
    );
    assert.doesNotMatch(out, /<script>|<u>|<r>|a<b|value=""x"/);
    assert.match(out, /&lt;script&gt;/);
    assert.doesNotMatch(loginPage({ error: '<x>' }), /<x>/);
  });

  test('names and job ids in addresses', () => {
    assert.equal(parseName('dev-1.a_b'), 'dev-1.a_b');
    for (const bad of ['../etc', 'a/b', '', '-x', 'x'.repeat(64), '<s>', 'a b'])
      assert.throws(
        () => parseName(bad),
        (e: unknown) => e instanceof HttpError && e.statusCode === 400,
      );
    assert.equal(parseJobId('12'), 12);
    for (const bad of ['0', '-1', '1.5', 'abc', '1e3', '01', '9999999999', '../1'])
      assert.throws(
        () => parseJobId(bad),
        (e: unknown) => e instanceof HttpError && e.statusCode === 400,
      );
  });

  test('the form token is bound to the session token', () => {
    assert.equal(csrfToken('sky_a'), csrfToken('sky_a'));
    assert.notEqual(csrfToken('sky_a'), csrfToken('sky_b'));
    assert.doesNotMatch(csrfToken('sky_a'), /sky_a/);
  });

  test('formatting', () => {
    assert.equal(money(0), '$0.00');
    assert.equal(money(0.004), '$0.0040');
    assert.equal(money(12.345), '$12.35');
    assert.equal(duration(59_000), '59s');
    assert.equal(duration(61_000), '1m 1s');
    assert.equal(duration(3 * 3600_000 + 60_000), '3h 1m');
  });
});
