/** Suggestions for a mistyped name: the candidates nearest by edit distance. */
export function closeMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: [string, number][] = [];
  // Case-only differences count least (W_q -> W_Q before W_K).
  const lower = name.toLowerCase();
  for (const c of candidates) scored.push([c, 2 * levenshtein(lower, c.toLowerCase()) + levenshtein(name, c)]);
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const limit = 3 * Math.max(3, Math.ceil(name.length / 3));
  return scored.filter(([, d]) => d <= limit).slice(0, max).map(([c]) => c);
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
