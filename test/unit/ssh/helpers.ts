/**
 * Shared setup of the SSH runner tests: a temp SKYHOP_HOME (restored and removed by `cleanup`), a
 * real sshd (test/helpers/sshd.ts) and SshRunners to it that are closed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshRunner, type SshRunnerOptions } from '../../../src/runtime/ssh-runner.js';
import { createSshd, type TestSshd } from '../../helpers/sshd.js';

export { sshdUnavailable } from '../../helpers/sshd.js';

export interface SshEnv {
  root: string;
  sshd: TestSshd;
  runner(opts?: SshRunnerOptions, conn?: Partial<TestSshd['connection']>): SshRunner;
  cleanup(): Promise<void>;
}

/** A temp SKYHOP_HOME and an sshd (started unless `start: false`). */
export async function sshEnv(opts: { start?: boolean; maxSessions?: number } = {}): Promise<SshEnv> {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-ssh-'));
  const oldHome = process.env.SKYHOP_HOME;
  process.env.SKYHOP_HOME = join(root, 'sh');
  const sshd = await createSshd(opts);
  const runners: SshRunner[] = [];
  return {
    root,
    sshd,
    runner: (o, conn) => {
      const r = new SshRunner({ ...sshd.connection, ...conn }, o);
      runners.push(r);
      return r;
    },
    cleanup: async () => {
      for (const r of runners) await r.stopMaster().catch(() => {});
      await sshd.destroy();
      if (oldHome === undefined) delete process.env.SKYHOP_HOME;
      else process.env.SKYHOP_HOME = oldHome;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Strings that would run something if they ever reached a shell unquoted (each touches `canary`). */
export function hostileCorpus(canary: string): string[] {
  return [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `'; touch ${canary}; '`,
    `"; touch ${canary}; "`,
    `a\ntouch ${canary}\n`,
    `x; touch ${canary}`,
    `x && touch ${canary} || touch ${canary}`,
    `| touch ${canary}`,
    `& touch ${canary} &`,
    `>${canary}`,
    `$(touch ${canary})'"\\`,
    `it's "quoted" \\ back\\slash`,
    '$HOME ~ * ? [a] {b,c}',
    '-rf --help',
    ' leading and trailing spaces ',
    'tab\there %s %n %%',
    'ünïcödé ☃',
  ];
}
