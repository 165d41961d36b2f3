/**
 * Rendering for the CLI: progress (a spinner on a terminal, plain lines otherwise; always on
 * stderr so stdout carries only results and job output), confirmation, tables, durations.
 */
import { setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline';
import { UserError } from '../util/errors.js';

export interface Progress {
  step(message: string): void;
  /** Stop the spinner (leaving the last step printed). */
  stop(): void;
}

export async function progress(): Promise<Progress> {
  // A spinner needs a real terminal with a width (a pty of 0 columns makes spinners loop forever).
  if (!process.stderr.isTTY || process.env.CI || !(process.stderr.columns > 0)) {
    return { step: (m) => process.stderr.write(`${m}\n`), stop: () => {} };
  }
  const { createSpinner } = await import('./spinner.js');
  let spinner: ReturnType<typeof createSpinner> | null = null;
  return {
    step(m) {
      if (spinner) spinner.success();
      spinner = createSpinner(m, { stream: process.stderr }).start();
    },
    stop() {
      if (spinner) spinner.success();
      spinner = null;
    },
  };
}

/** Ask y/N on a terminal; without a terminal, require --yes. */
export async function confirm(question: string, yes: unknown, flag = '-y'): Promise<boolean> {
  if (yes) return true;
  // A team server's worker: the client's stdin is a terminal and its lines arrive on ours.
  if (!process.stdin.isTTY && process.env.SKYHOP_API_STDIN_TTY !== '1') {
    throw new UserError(
      `${question.replace(/\?$/, '')}: needs confirmation and stdin is not a terminal; add ${flag}`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [Y/n] `, resolve));
  rl.close();
  return answer.trim() === '' || /^y(es)?$/i.test(answer.trim());
}

export async function table(head: string[], rows: Array<Array<string | number>>): Promise<string> {
  const { textTable } = await import('../util/table.js');
  return textTable(head, rows);
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** An AbortSignal that Ctrl-C (SIGINT/SIGTERM) fires; a second Ctrl-C exits at once with 130. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  // One Ctrl-C reaches every node's command at once: dozens of listeners on this signal are expected.
  setMaxListeners(0, ac.signal);
  let count = 0;
  const onSig = () => {
    count++;
    if (count > 1) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    },
  };
}
