/** Nearest-name suggestions for typos ("did you mean ...?"): the one helper every message uses. */

/**
 * Edit distance where swapping two adjacent letters counts as one edit (optimal string alignment):
 * 'gpc' is one edit from 'gcp', as a person would judge it.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2][j - 2] + 1);
      row[j] = d;
    }
    rows.push(row);
  }
  return rows[a.length][b.length];
}

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
    // Lengths further apart than this cannot be close (and a 2 MB typo must not cost minutes).
    if (Math.abs(cl.length - lower.length) > Math.max(limit, 3)) continue;
    const contains = lower.length >= 3 && (cl.includes(lower) || lower.includes(cl));
    const d = editDistance(lower, cl);
    if (d <= limit || contains) scored.push({ c, d });
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

/** The single nearest candidate by edit distance (case-insensitive), however far; null when there are none. */
export function closestName(name: string, candidates: Iterable<string>): string | null {
  // Nothing is "closest" to a name far longer than any real one; the edit distance would cost minutes.
  if (name.length > 200) return null;
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD || (d === bestD && best !== null && c < best)) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
