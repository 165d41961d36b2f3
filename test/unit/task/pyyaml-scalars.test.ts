/**
 * skyhop reads plain scalars as PyYAML's yaml.safe_load (SkyPilot's loader) does: every entry of
 * test/fixtures/pyyaml-scalars.json (PyYAML's own answers, written by scripts/pyyaml-scalars.py) is
 * read through the parser's options and compared. The documented differences (docs/compatibility.md):
 * timestamps stay strings, and scalars PyYAML fails to construct (`=`, an invalid date) are strings.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { parseTaskFile, parseTaskText } from '../../../src/task/index.js';
import { PYYAML_OPTIONS } from '../../../src/util/yaml/pyyaml.js';
import { tempDir } from './helpers.js';

interface Row {
  text: string;
  type: 'str' | 'int' | 'float' | 'bool' | 'null' | 'date' | 'datetime' | 'error';
  value: string | boolean | null;
}

const table = JSON.parse(readFileSync(join('test', 'fixtures', 'pyyaml-scalars.json'), 'utf8')) as {
  scalars: Row[];
};

function read(text: string): { value?: unknown; errors: number } {
  const doc = parseDocument(`v: ${text}\n`, PYYAML_OPTIONS);
  if (doc.errors.length > 0) return { errors: doc.errors.length };
  return { value: (doc.toJS() as { v: unknown }).v, errors: 0 };
}

function pyFloat(repr: string): number {
  if (repr === 'inf') return Number.POSITIVE_INFINITY;
  if (repr === '-inf') return Number.NEGATIVE_INFINITY;
  if (repr === 'nan') return Number.NaN;
  return Number(repr);
}

describe('plain scalars as PyYAML reads them', () => {
  it('the table covers the forms of issue 10', () => {
    assert.ok(table.scalars.length >= 300, `only ${table.scalars.length} entries`);
    const texts = new Set(table.scalars.map((r) => r.text));
    for (const t of ['.', '1e5', '1.0e+5', '0o17', '0x1F', '1_000', '1:30', '.inf', '.nan', '~', 'Null']) {
      assert.ok(texts.has(t), t);
    }
    for (const t of ['yes', 'no', 'on', 'off', '2024-01-01', '0', '-0', '+.5', '1.', '.5', '1_0.0_1']) {
      assert.ok(texts.has(t), t);
    }
    for (const t of ['0b101', 'Yes', 'NO', 'oN', 'null', 'NULL', 'nUll']) assert.ok(texts.has(t), t);
  });

  for (const row of table.scalars) {
    it(`${JSON.stringify(row.text)} -> ${row.type} ${JSON.stringify(row.value)}`, () => {
      const got = read(row.text);
      switch (row.type) {
        case 'error':
          // A syntax error for PyYAML's scanner is one for skyhop too; what PyYAML cannot construct
          // (`=`, `<<` as a value, a 13th month) stays a string here.
          if (row.value === 'ScannerError') assert.ok(got.errors > 0, 'expected a YAML syntax error');
          else assert.equal(got.value, row.text);
          return;
        case 'date':
        case 'datetime':
          // Deliberate: dates stay the text written (SkyPilot turns an env's date back into this text).
          assert.equal(got.value, row.text);
          return;
        case 'str':
          assert.equal(got.value, row.value);
          return;
        case 'bool':
          assert.equal(got.value, row.value);
          return;
        case 'null':
          assert.equal(got.value, null);
          return;
        case 'int':
          assert.ok(
            typeof got.value === 'number' || typeof got.value === 'bigint',
            `got ${typeof got.value}`,
          );
          if (typeof got.value === 'number') assert.ok(Number.isSafeInteger(got.value));
          assert.equal(String(got.value), row.value);
          return;
        case 'float': {
          assert.equal(typeof got.value, 'number');
          const want = pyFloat(row.value as string);
          assert.ok(
            Object.is(got.value, want) || (Number.isNaN(want) && Number.isNaN(got.value)),
            `got ${String(got.value)}`,
          );
          return;
        }
      }
    });
  }
});

describe('task fields that PyYAML reads as strings', () => {
  it("workdir: . and a file_mounts source '.' are the directory, not NaN", () => {
    const tmp = tempDir();
    try {
      mkdirSync(join(tmp.dir, 'proj'));
      writeFileSync(join(tmp.dir, 'proj', 'task.yaml'), 'workdir: .\nfile_mounts:\n  /code: .\nrun: ls\n');
      const t = parseTaskFile(join(tmp.dir, 'proj', 'task.yaml'), { baseDir: join(tmp.dir, 'proj') })
        .tasks[0];
      assert.equal(t.workdir, join(tmp.dir, 'proj'));
      assert.deepEqual(t.fileMounts, { '/code': join(tmp.dir, 'proj') });
    } finally {
      tmp.done();
    }
  });

  it('envs keep the text of 1e5, 0o17 and dates; numbers PyYAML reads as numbers keep their text too', () => {
    const t = parseTaskText(
      'envs:\n  A: 1e5\n  B: 0o17\n  C: 2024-01-01\n  D: 0x1F\n  E: y\n  F: .\n  G: +.5\n',
      'task.yaml',
    ).tasks[0];
    assert.deepEqual(t.envs, { A: '1e5', B: '0o17', C: '2024-01-01', D: '0x1F', E: 'y', F: '.', G: '+.5' });
  });

  it('yes/on are booleans and 1e5 is not a number where one is expected', () => {
    const t = parseTaskText('resources:\n  use_spot: on\n  cpus: 1.0e+1\n', 'task.yaml').tasks[0];
    assert.equal(t.resources[0].useSpot, true);
    assert.deepEqual(t.resources[0].cpus, { value: 10, orMore: false });
    assert.throws(
      () => parseTaskText('resources:\n  use_spot: y\n', 'task.yaml'),
      /expected true or false, got "y"/,
    );
  });
});
