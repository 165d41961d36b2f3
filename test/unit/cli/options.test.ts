/**
 * Every command's typed options: each flag and argument main.ts declares is read by the command's
 * own parser (none silently dropped), and bad values are one clear UserError line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { RawOptions } from '../../../src/cli/options.js';
import { UserError } from '../../../src/util/errors.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

interface Declared {
  path: string[];
  options: string[];
  args: Array<{ name: string; required: boolean; variadic: boolean }>;
}

/** What main.ts's commander program declares, per (sub)command (read in a child: main.ts runs on import). */
function declared(): Declared[] {
  const main = pathToFileURL(join(ROOT, 'src/cli/main.ts')).href;
  const script = `
    process.argv = [process.argv[0], 'skyhop', '--version'];
    const { buildProgram } = await import(${JSON.stringify(main)});
    const out = [];
    const walk = (cmd, path) => {
      for (const c of cmd.commands) {
        const p = [...path, c.name()];
        if (c.commands.length) walk(c, p);
        else out.push({ path: p, options: c.options.map((o) => o.attributeName()), args: c.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic })) });
      }
    };
    walk(buildProgram(), []);
    console.log('JSON' + JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SKYHOP_HOME: join(ROOT, '.tmp', 'never-used') },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('JSON'));
  assert.ok(line, `${r.stdout}${r.stderr}`);
  return JSON.parse(line.slice(4)) as Declared[];
}

const camel = (s: string) => s.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());

type Parse = (raw: RawOptions) => Record<string, unknown>;

async function parserOf(path: string[]): Promise<Parse> {
  const mod = (await import(`../../../src/cli/${path.join('-')}.js`)) as { parse: Parse; default: unknown };
  assert.equal(typeof mod.default, 'function', `${path.join(' ')}: no default export`);
  return mod.parse;
}

describe('CLI options', () => {
  test('every declared flag and argument is read by its command’s parser', async () => {
    const cmds = declared();
    assert.ok(cmds.length >= 17, `only ${cmds.length} commands`);
    for (const c of cmds) {
      const parse = await parserOf(c.path);
      // Arguments as commander hands them over; every flag absent.
      const given: RawOptions = {};
      for (const a of c.args) if (a.required || a.variadic) given[camel(a.name)] = a.variadic ? ['1'] : '1';
      const read = new Set<string>();
      const raw = new Proxy(given, {
        get(target, k) {
          read.add(String(k));
          return target[String(k)];
        },
      });
      parse(raw);
      const want = [...c.options, ...c.args.map((a) => camel(a.name))];
      const missed = want.filter((k) => !read.has(k));
      assert.deepEqual(missed, [], `skyhop ${c.path.join(' ')}: declared but never read`);
      const extra = [...read].filter((k) => !want.includes(k));
      assert.deepEqual(extra, [], `skyhop ${c.path.join(' ')}: read but never declared`);
    }
  });

  test('values are typed once: numbers, lists, defaults', async () => {
    const launch = await parserOf(['launch']);
    const o = launch({
      entrypoint: ['echo', 'hi'],
      idleMinutesToAutostop: '1.5',
      env: ['A=1'],
      useSpot: false,
      target: 'time',
    });
    assert.deepEqual(o, {
      entrypoint: ['echo', 'hi'],
      idleMinutesToAutostop: 1.5,
      env: ['A=1'],
      useSpot: false,
      target: 'time',
    });
    assert.deepEqual(launch({}), { entrypoint: [], target: 'cost' });
    const cancel = await parserOf(['cancel']);
    assert.deepEqual(cancel({ cluster: 'c', jobIds: ['3', '12'] }), { cluster: 'c', jobIds: [3, 12] });
    const logs = await parserOf(['logs']);
    assert.deepEqual(logs({ cluster: 'c' }), { cluster: 'c', follow: true });
    assert.deepEqual(logs({ cluster: 'c', jobId: '7', follow: false }), {
      cluster: 'c',
      jobId: 7,
      follow: false,
    });
  });

  test('a bad value is one UserError line naming the flag', async () => {
    const bad = async (path: string[], raw: RawOptions, msg: RegExp) => {
      const parse = await parserOf(path);
      assert.throws(
        () => parse(raw),
        (e: Error) => e instanceof UserError && msg.test(e.message) && !e.message.includes('\n'),
      );
    };
    await bad(
      ['autostop'],
      { clusters: ['c'], idleMinutes: 'soon' },
      /^--idle-minutes: expected a number of minutes/,
    );
    await bad(
      ['start'],
      { clusters: ['c'], idleMinutesToAutostop: '-1' },
      /^-i: expected a number of minutes/,
    );
    await bad(['logs'], { cluster: 'c', jobId: 'x1' }, /^job id must be a number, got "x1"$/);
    await bad(['cancel'], { cluster: 'c', jobIds: ['1', 'two'] }, /^job ids must be numbers: two$/);
    await bad(['optimize'], { file: 'f.yaml', target: 'speed' }, /^--target must be cost or time/);
    await bad(['status'], { refresh: 'yes' }, /^--refresh: expected a switch/);
    await bad(['exec'], { entrypoint: ['x'] }, /^expected the argument <cluster>, got undefined$/);
  });
});
