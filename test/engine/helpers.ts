// Shared setup for the engine tests: where the test models are, and how results are compared.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";

export const repoRoot = path.resolve(__dirname, "../..");
export const stories = path.resolve(repoRoot, "../shared/models/stories260K.gguf");
export const skipStories = existsSync(stories) ? false : `skipped: ${stories} is absent (the shared test models live beside the repository)`;
export const vocabDir = path.join(repoRoot, "native", "vendor", "llama.cpp", "models");
export const prompt = "Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily";

interface Values {
  shape: readonly number[];
  data: Float32Array;
}

/** max |a - b| / max |expected|, ignoring positions where both are -Infinity (masked scores). */
export function relativeError(actual: Values, expected: Values): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i];
    const e = expected.data[i];
    if (e === -Infinity && a === -Infinity) continue;
    diff = Math.max(diff, Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  return diff / (scale || 1);
}

/** Shapes equal and values within `tol` of the expected tensor's largest absolute value. */
export function assertClose(actual: Values, expected: Values, what: string, tol = 1e-3) {
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  const err = relativeError(actual, expected);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} exceeds ${tol} (expected max |x| ${Math.max(...expected.data.map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)))})`);
}

/** Last row of a [pos, vocab] logits tensor. */
export function lastRow(t: Values): Float32Array {
  const V = t.shape[1];
  return t.data.subarray(t.data.length - V);
}
