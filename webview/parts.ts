/**
 * Pieces every view starts with: its title, the notes under it (what a value is, the metric, how the
 * data was reduced), and the checks that turn a malformed payload into a message naming the field.
 */
import { decodeTensor, type EncodedTensor, type MetricInfo } from "../src/protocol/views";
import { formatValue, h } from "./dom";
import { PayloadError } from "./renderer";

export function viewHeader(p: { title: string; reduced?: string }, ...notes: (string | undefined)[]): HTMLElement {
  return h("div", { class: "steer-header" },
    h("h3", { class: "steer-title" }, String(p.title ?? "")),
    ...notes.filter((n): n is string => !!n).map((n) => h("p", { class: "steer-note" }, n)),
    p.reduced ? h("p", { class: "steer-note steer-reduced", attrs: { role: "note" } }, `Reduced: ${p.reduced}`) : null);
}

export function metricNote(m: MetricInfo | undefined): string | undefined {
  if (!m) return undefined;
  const parts = [`metric: ${m.name}`];
  if (m.clean !== undefined) parts.push(`clean ${formatValue(m.clean)}`);
  if (m.corrupt !== undefined) parts.push(`corrupted ${formatValue(m.corrupt)}`);
  if (m.normalized) parts.push("normalized (0 = corrupted run, 1 = clean run)");
  return parts.join(", ");
}

/** Decodes `t` and checks its shape has `rank` axes (and the given sizes where not undefined). */
export function tensorOf(field: string, t: EncodedTensor | undefined, expect: (number | undefined)[]): { shape: number[]; data: Float32Array } {
  if (!t || !Array.isArray(t.shape)) throw new PayloadError(`${field} must be an encoded tensor { dtype, shape, base64 }`);
  if (t.shape.length !== expect.length) throw new PayloadError(`${field} must have ${expect.length} axes, got shape [${t.shape.join(", ")}]`);
  expect.forEach((n, i) => {
    if (n !== undefined && t.shape[i] !== n) throw new PayloadError(`${field} axis ${i} must have ${n} entries, got shape [${t.shape.join(", ")}]`);
  });
  try {
    return { shape: t.shape, data: decodeTensor(t) };
  } catch (e) {
    throw new PayloadError(`${field}: ${(e as Error).message}`);
  }
}

export function stringsOf(field: string, v: unknown, length?: number): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw new PayloadError(`${field} must be an array of strings`);
  if (length !== undefined && v.length !== length) throw new PayloadError(`${field} must have ${length} entries, got ${v.length}`);
  return v as string[];
}
