/**
 * Payloads built in the tests: large heatmaps (sizes the fixtures do not cover) and the hostile token
 * list. Fixtures of realistic payloads are JSON under fixtures/ (loadFixture in browser.ts).
 */
import { decodeTensor, encodeTensor, type HeadsView, type PositionsView } from "../../src/protocol/views";

/** Tokens that must render as their characters: markup, entities, control and bidi characters. */
export const HOSTILE_TOKENS = [
  "<img src=x onerror=alert(1)>", "<script>alert(2)</script>", " &amp; &lt;b&gt;", "\n", "\u202eevil", "{{constructor}}",
  "\" onmouseover=\"alert(3)", "<b>bold</b>", "javascript:alert(4)", "\t", "  two spaces", "<svg onload=alert(5)>", "\u{1F642}", "</table>",
];

/** Signed values with structure (so neighbours differ), reproducible. */
export function wave(n: number, seed = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * Math.cos(i * 0.011 * seed) * (1 + (i % 7) / 3));
}

export function bigHeads(layers: number, heads: number): HeadsView {
  return {
    title: `Synthetic head scores ${layers}x${heads}`,
    axes: ["layer", "head"],
    values: encodeTensor([layers, heads], wave(layers * heads)),
    valueLabel: "score",
    rerun: { resultId: `big-${layers}x${heads}`, kernelSession: "s", modes: ["patch", "zero"] },
  };
}

export function bigPositions(layers: number, positions: number): PositionsView {
  return {
    title: `Synthetic position scores ${layers}x${positions}`,
    axes: ["layer", "pos"],
    values: encodeTensor([layers, positions], wave(layers * positions, 2)),
    tokens: Array.from({ length: positions }, (_, i) => ` tok${i}`),
    component: "resid_pre",
    valueLabel: "score",
    rerun: { resultId: `bigpos-${layers}x${positions}`, kernelSession: "s", modes: ["patch"] },
  };
}

export function values(p: { values: HeadsView["values"] }): Float32Array {
  return decodeTensor(p.values);
}

/** A token as the views label it: its characters, with line breaks and tabs as visible symbols. */
export function shown(token: string): string {
  return token.replaceAll("\n", "\u21b5").replaceAll("\r", "\u240d").replaceAll("\t", "\u21e5");
}
