/**
 * Issue 9 item 2: a lost, emptied or damaged state database leaks nothing. The clouds' tags are the
 * truth: with `state.db` moved away, `status --refresh` adopts the running cluster and `down NAME`
 * removes its instances; `down NAME` for a name not on record asks the clouds too; a 0-byte or damaged
 * database is an error with advice that keeps the file (never an empty state, never "delete it"), at
 * open and in the middle of a command. On the local cloud and on the FluffyCloud emulator (real
 * instances: the emulator lists zero afterwards).
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { Sandbox, viaServer } from './harness.js';

function localNodes(sb: Sandbox, cluster: string): string[] {
  const dir = join(sb.skyhopHome, 'local', 'clusters', cluster);
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
}

/**
 * Moves state.db (and its WAL files) away, as a user who lost it would. Through a team server: while
 * the server is down (a running server holds its database open; it is restarted after such a loss);
 * on PostgreSQL the server comes back on a new, empty database.
 */
function loseState(sb: Sandbox): void {
  sb.stopServer({ freshDatabase: true });
  for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) {
    const p = join(sb.skyhopHome, f);
    if (existsSync(p)) renameSync(p, `${p}.lost`);
  }
}

async function launch(sb: Sandbox, name: string, extra: string[] = []): Promise<void> {
  const r = await sb.run(['launch', '-y', '-d', '-c', name, ...extra, 'sleep 600']);
  assert.equal(r.code, 0, r.stderr);
}

describe('lost state on the local cloud', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  test('state.db moved away: status --refresh adopts the cluster, down NAME removes it', async () => {
    await launch(sb, 'lost1');
    assert.equal(localNodes(sb, 'lost1').length, 1);
    loseState(sb);
    const plain = await sb.run(['status']);
    assert.match(plain.stdout, /No clusters\./, 'a fresh state knows nothing until refreshed');
    const r = await sb.run(['status', '--refresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /lost1: unrecorded -> UP \(adopted: 1 instance tagged skyhop-cluster=lost1 on local\/local/,
    );
    assert.match(r.stdout, /^lost1\s.*1x local local.*\sUP\s/m);
    const d = await sb.run(['down', '-y', 'lost1']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(localNodes(sb, 'lost1'), []);
    assert.match((await sb.run(['status', '--refresh'])).stdout, /No clusters\./);
  });

  test('down NAME for a name not on record finds it in the cloud and removes it', async () => {
    await launch(sb, 'lost2');
    loseState(sb);
    const d = await sb.run(['down', '-y', 'lost2']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /lost2: adopted: 1 instance tagged skyhop-cluster=lost2/);
    assert.deepEqual(localNodes(sb, 'lost2'), []);
    const none = await sb.run(['down', '-y', 'nosuch']);
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /cluster "nosuch" does not exist: it is not on record and no enabled cloud has instances tagged skyhop-cluster=nosuch/,
    );
  });

  // Through a server the database is the server's (its users and tokens too): a damaged one stops the
  // server from starting (`api start` says the same words), so no CLI call gets as far as this advice.
  const damagedSkip = !viaServer
    ? false
    : viaServer === 'postgres'
      ? 'there is no state.db: the state is in PostgreSQL'
      : "a damaged state.db is the server's: the server does not start (api start says the same words)";
  test('a 0-byte state.db is an error with advice that keeps the file; moved aside, refresh adopts', {
    skip: damagedSkip,
  }, async () => {
    await launch(sb, 'lost3');
    const db = join(sb.skyhopHome, 'state.db');
    for (const f of ['state.db-wal', 'state.db-shm']) rmSync(join(sb.skyhopHome, f), { force: true });
    truncateSync(db, 0);
    for (const args of [['status'], ['status', '--refresh'], ['down', '-a', '-y'], ['down', '-y', 'lost3']]) {
      const r = await sb.run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /state\.db is not a readable skyhop state database \(the file is empty \(0 bytes\)\); move it aside \(`mv .*state\.db .*state\.db\.broken`\) and run `skyhop status --refresh`/,
      );
      assert.doesNotMatch(r.stderr, /internal error|delete|remove it/i);
      assert.equal(localNodes(sb, 'lost3').length, 1, 'nothing was torn down blindly');
    }
    renameSync(db, `${db}.broken`);
    const r = await sb.run(['status', '--refresh']);
    assert.match(r.stderr, /lost3: unrecorded -> UP \(adopted/);
    assert.equal((await sb.run(['down', '-y', 'lost3'])).code, 0);
    assert.deepEqual(localNodes(sb, 'lost3'), []);
  });

  test('damage found in the middle of a command gets the same clear message, not an internal error', {
    skip: damagedSkip,
  }, async () => {
    await launch(sb, 'lost4');
    const path = join(sb.skyhopHome, 'state.db');
    // Checkpoint the WAL into the file, then overwrite the clusters table's root page with garbage:
    // the file opens (header and schema are intact) and breaks when the clusters are read.
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'clusters'").get() as {
      rootpage: number;
    };
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (rootpage - 1) * pageSize);
    closeSync(fd);
    const r = await sb.run(['status']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /state\.db is not a readable skyhop state database \(.*\); move it aside/);
    assert.doesNotMatch(r.stderr, /internal error/);
    loseState(sb);
    assert.equal((await sb.run(['down', '-y', 'lost4'])).code, 0);
    assert.deepEqual(localNodes(sb, 'lost4'), []);
  });
});

describe('lost state on FluffyCloud', () => {
  const sb = new Sandbox();
  let emu: EmulatorHandle;
  before(async () => {
    emu = await startEmulator({ bootDelayS: 0 });
    emu.writeCredentials(sb.home);
  });
  after(async () => {
    await sb.cleanup();
    await emu?.stop();
  });

  async function liveInstances(): Promise<string[]> {
    return Object.entries(await emu.listInstances())
      .filter(([, i]) => i.status !== 'terminated')
      .map(([id]) => id);
  }

  test('state.db moved away: status --refresh adopts, down NAME leaves zero instances', async () => {
    await launch(sb, 'flost', ['--cloud', 'fluffycloud', '--num-nodes', '2']);
    assert.equal((await liveInstances()).length, 2);
    loseState(sb);
    const r = await sb.run(['status', '--refresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /flost: unrecorded -> UP \(adopted: 2 instances tagged skyhop-cluster=flost on fluffycloud\/fluffy-/,
    );
    assert.match(r.stdout, /^flost\s.*2x fluffycloud /m);
    const d = await sb.run(['down', '-y', 'flost']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await liveInstances(), []);
  });

  test('down NAME for a name not on record (a truncated state moved aside) removes its instances', async () => {
    await launch(sb, 'flost2', ['--cloud', 'fluffycloud']);
    loseState(sb);
    const d = await sb.run(['down', '-y', 'flost2']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await liveInstances(), []);
  });
});
