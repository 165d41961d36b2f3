/**
 * Run one function over every node at once and collect each node's outcome, so that one failing
 * node neither hides the others' results nor leaves their work running unseen.
 */
import { CloudError } from '../util/errors.js';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls `fn` for every item (in parallel, at most `concurrency` at a time; default all) and returns
 * one outcome per item, in the items' order. Never rejects.
 */
export async function inParallel<I, T>(
  items: readonly I[],
  fn: (item: I, index: number) => Promise<T>,
  opts: { concurrency?: number } = {},
): Promise<Settled<T>[]> {
  const out: Settled<T>[] = new Array(items.length);
  const limit = Math.max(1, Math.min(opts.concurrency ?? items.length, items.length));
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i], i) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

/**
 * The values of all outcomes, or a CloudError naming every failed item (`label(i)`, e.g. "node 1")
 * and its error, with the first error as the cause.
 */
export function allOrThrow<T>(
  results: readonly Settled<T>[],
  what: string,
  label: (index: number) => string,
): T[] {
  const failed: string[] = [];
  let cause: unknown;
  results.forEach((r, i) => {
    if (!r.ok) {
      cause ??= r.error;
      failed.push(`${label(i)}: ${r.error instanceof Error ? r.error.message : String(r.error)}`);
    }
  });
  if (failed.length > 0) {
    throw new CloudError(`${what} failed on ${failed.length} of ${results.length} nodes.`, {
      details: failed,
      cause,
    });
  }
  return results.map((r) => (r as { ok: true; value: T }).value);
}
