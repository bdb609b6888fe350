/** Plain vector arithmetic the toolkit's methods share. */

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The Euclidean length. */
export function l2(v: ArrayLike<number>): number {
  return Math.sqrt(dot(v, v));
}
