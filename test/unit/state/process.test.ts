import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isProcessAlive, processStartTime } from '../../../src/state/process.js';

test('a zombie (killed, not yet reaped) is not alive', async () => {
  // `sleep 0` exits at once; its parent execs `sleep 5`, which never reaps it.
  const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((r) => sh.stdout.once('data', (d) => r(String(d)))));
    const stat = () => readFileSync(`/proc/${pid}/stat`, 'latin1');
    for (let i = 0; i < 100 && !/\) Z /.test(stat()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(stat(), /\) Z /, 'the child is a zombie');
    assert.equal(isProcessAlive(pid, null), false);
    assert.equal(isProcessAlive(pid, processStartTime(pid)), false);
    assert.equal(isProcessAlive(sh.pid!, processStartTime(sh.pid!)), true);
  } finally {
    sh.kill('SIGKILL');
  }
});
