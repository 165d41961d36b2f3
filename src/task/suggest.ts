/** Nearest-name suggestions for typos ("did you mean ...?"). */
import { distance } from 'fastest-levenshtein';

/**
 * Up to `max` candidates close to `name`, closest first. A case-insensitive exact match always wins;
 * otherwise a candidate counts as close within about a third of the name's length (at least 1 edit,
 * at most `maxEdits`), or when one name contains the other and is at most 3 characters longer.
 */
export function nearestNames(name: string, candidates: Iterable<string>, max = 3, maxEdits = 4): string[] {
  const lower = name.toLowerCase();
  // Names shorter than 3 characters get only case-insensitive matches: any edit changes them too much.
  const limit = name.length < 3 ? 0 : Math.min(maxEdits, Math.max(1, Math.floor(name.length / 3)));
  const scored: Array<{ c: string; d: number }> = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c) || c === '') continue;
    seen.add(c);
    const cl = c.toLowerCase();
    if (cl === lower) return [c];
    const d = distance(lower, cl);
    const contains = lower.length >= 3 && (cl.includes(lower) || lower.includes(cl));
    if (d <= limit || (contains && Math.abs(cl.length - lower.length) <= 3)) scored.push({ c, d });
  }
  scored.sort((a, b) => a.d - b.d || a.c.localeCompare(b.c));
  return scored.slice(0, max).map((s) => s.c);
}

/** ` (did you mean 'x'?)`, ` (did you mean 'x' or 'y'?)`, or '' when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>, max = 3): string {
  const near = nearestNames(name, candidates, max);
  if (near.length === 0) return '';
  const q = near.map((n) => `'${n}'`);
  const list = q.length === 1 ? q[0] : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
  return ` (did you mean ${list}?)`;
}

/** The candidate matching `name` case-insensitively (the candidate's spelling), or undefined. */
export function caseInsensitiveMatch(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  for (const c of candidates) if (c === name) return c;
  for (const c of candidates) if (c.toLowerCase() === lower) return c;
  return undefined;
}
