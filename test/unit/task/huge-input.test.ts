/**
 * Huge input gives short, clear errors (issue 9 items 5 and 6): a 2 MB value is cut in the message
 * with its length; 20,000 unknown keys give the first few and a count. (Parse speed at that scale is
 * measured by bench/parse.ts, never asserted here.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTaskText } from '../../../src/task/index.js';
import { clipLongValues, UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const BIG = 'x'.repeat(2_000_000);

function messageOf(text: string): string {
  try {
    parseTaskText(text, '/tmp/huge.yaml', { known: testKnown() });
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e).slice(0, 200)}`);
    return [e.message, ...e.details].join('\n');
  }
  assert.fail('expected an error');
}

describe('huge values in a task file', () => {
  const cases: Record<string, string> = {
    workdir: `workdir: ${BIG}\nrun: x\n`,
    cloud: `resources:\n  cloud: ${BIG}\nrun: x\n`,
    region: `resources:\n  cloud: aws\n  region: ${BIG}\nrun: x\n`,
    zone: `resources:\n  zone: ${BIG}\nrun: x\n`,
    accelerators: `resources:\n  accelerators: ${BIG}\nrun: x\n`,
    instance_type: `resources:\n  instance_type: ${BIG}\nrun: x\n`,
    cpus: `resources:\n  cpus: ${BIG}\nrun: x\n`,
    num_nodes: `num_nodes: ${BIG}\nrun: x\n`,
    file_mounts: `file_mounts:\n  /a: ${BIG}\nrun: x\n`,
    depends_on: `name: a\nrun: x\n---\nname: b\ndepends_on: ${BIG}\nrun: x\n`,
  };
  for (const [field, text] of Object.entries(cases)) {
    it(`${field}: the message cuts the value and says its length`, () => {
      const m = messageOf(text);
      assert.ok(m.length < 600, `message of ${m.length} characters: ${m.slice(0, 300)}`);
      assert.match(m, /x{60}… ?'?"? ?\(2,000,000 characters\)|x{60}…['"]? \(2,000,000 characters\)/);
    });
  }

  it('20,000 unknown keys: the first ones, then how many more', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `  unk${i}: v`).join('\n');
    const m = messageOf(`resources:\n  cpus: 1\n${keys}\nrun: x\n`);
    assert.match(m, /^\/tmp\/huge\.yaml:3:3: resources: unknown field 'unk0'/);
    assert.match(m, /and 19994 more problems$/);
  });
});

describe('clipLongValues', () => {
  it('leaves ordinary messages alone', () => {
    const s = "t.yaml:3:9: resources.cloud: unknown cloud 'awz' (did you mean 'aws'?)";
    assert.equal(clipLongValues(s), s);
  });
  it('cuts long quoted and unquoted runs, keeping the quotes and the rest of the message', () => {
    const long = 'a'.repeat(500);
    assert.equal(
      clipLongValues(`bad '${long}' here; fix it`),
      `bad '${'a'.repeat(60)}…' (500 characters) here; fix it`,
    );
    assert.equal(clipLongValues(`path ${long} missing`), `path ${'a'.repeat(60)}… (500 characters) missing`);
  });
});

describe('clipLongValues with spaces', () => {
  it('cuts a long quoted value with spaces, not the prose between two short quotes', () => {
    const words = 'word '.repeat(300).trim();
    assert.equal(
      clipLongValues(`got '${words}' there`),
      `got '${words.slice(0, 60)}…' (${words.length.toLocaleString('en-US')} characters) there`,
    );
    const prose = `'cpus' on line 4 ${'and more prose '.repeat(12)}('cpus:' alone)`;
    assert.equal(clipLongValues(prose), prose);
  });
});
