/**
 * The toolkit's rich outputs: one mime per view, the data each carries, and the messages a view and
 * the kernel exchange (click-to-patch). The lens (src/lens) produces these payloads, the renderers
 * (renderers/, webview/) draw them; both import the types from here and nowhere else.
 * Pure data and pure functions: no Node, no DOM.
 */

/** The output mimes of the toolkit's result values, each with a renderer. */
export const VIEW_MIMES = {
  /** scores over [layer, head] or [layer, head, pos]: patching, ablation, attribution, detectors */
  heads: "application/vnd.steer.heads+json",
  /** scores over [layer, pos]: residual-stream, attention-output and MLP-output patching */
  positions: "application/vnd.steer.positions+json",
  /** one score per named component (direct logit attribution, decomposed residual stream) */
  components: "application/vnd.steer.components+json",
  /** a circuit: nodes and weighted edges */
  circuit: "application/vnd.steer.circuit+json",
  /** massive activations (Sun et al. 2024): per-layer magnitudes, flagged entries, the sink */
  massive: "application/vnd.steer.massive+json",
  /** attention patterns of a layer's heads over a text */
  attention: "application/vnd.steer.attention+json",
  /** top tokens per layer and position (logit lens) */
  logitLens: "application/vnd.steer.logit-lens+json",
} as const;

export type ViewKind = keyof typeof VIEW_MIMES;

/** Views whose payload a renderer reads; text/markdown fallbacks travel beside them. */
export function viewKindOf(mime: string): ViewKind | undefined {
  return (Object.keys(VIEW_MIMES) as ViewKind[]).find((k) => VIEW_MIMES[k] === mime);
}

// ---------------------------------------------------------------------------------------------
// Names of components, as EAP-IG writes them: "input", "a{L}.h{H}", "m{L}", "logits".

export type ComponentRef =
  | { kind: "input" }
  | { kind: "head"; layer: number; head: number }
  | { kind: "mlp"; layer: number }
  | { kind: "logits" };

export function headName(layer: number, head: number): string {
  return `a${layer}.h${head}`;
}

export function mlpName(layer: number): string {
  return `m${layer}`;
}

export function componentName(c: ComponentRef): string {
  switch (c.kind) {
    case "input":
      return "input";
    case "logits":
      return "logits";
    case "head":
      return headName(c.layer, c.head);
    case "mlp":
      return mlpName(c.layer);
  }
}

/** Parses "input", "logits", "a3.h2" or "m1"; undefined for anything else. */
export function parseComponent(name: string): ComponentRef | undefined {
  if (name === "input" || name === "logits") return { kind: name };
  let m = /^a(\d+)\.h(\d+)$/.exec(name);
  if (m) return { kind: "head", layer: Number(m[1]), head: Number(m[2]) };
  m = /^m(\d+)$/.exec(name);
  if (m) return { kind: "mlp", layer: Number(m[1]) };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Tensors in payloads: little-endian Float32 as base64, so large ones stay compact in files.

export interface EncodedTensor {
  dtype: "float32";
  shape: number[];
  /** row-major values, base64 of their little-endian Float32 bytes */
  base64: string;
}

export function encodeTensor(shape: readonly number[], data: Float32Array | readonly number[]): EncodedTensor {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  const size = shape.reduce((a, b) => a * b, 1);
  if (f.length !== size) throw new RangeError(`encodeTensor: shape [${shape.join(", ")}] needs ${size} values, got ${f.length}.`);
  const bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let bin = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return { dtype: "float32", shape: [...shape], base64: btoa(bin) };
}

export function decodeTensor(t: EncodedTensor): Float32Array {
  if (!t || t.dtype !== "float32" || typeof t.base64 !== "string") throw new TypeError("decodeTensor: expected { dtype: \"float32\", shape, base64 }.");
  const bin = atob(t.base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== size * 4) throw new RangeError(`decodeTensor: shape [${t.shape.join(", ")}] needs ${size * 4} bytes, got ${bytes.length}.`);
  return new Float32Array(bytes.buffer);
}

/**
 * The most float values one output carries (about 4 MB as base64). A result larger than this is
 * reduced by its producer, which says how in `reduced`.
 */
export const VIEW_VALUE_CAP = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Payloads, one per mime. Every payload has a title and may say how its data was reduced.

interface ViewBase {
  title: string;
  /** set when the producer dropped data to stay under VIEW_VALUE_CAP, saying what was dropped */
  reduced?: string;
}

/** How a value was measured, for legends and for re-running one cell of a sweep. */
export interface MetricInfo {
  /** e.g. `logit(" Mary") - logit(" John")` */
  name: string;
  /** the metric on the clean and on the corrupted input (absent for single-input results) */
  clean?: number;
  corrupt?: number;
  /** whether values are normalized so 0 is the corrupted run and 1 the clean run */
  normalized: boolean;
}

/** What a click on a cell can ask the kernel to redo. Present only where the kernel can. */
export interface RerunInfo {
  /** the id under which the kernel that produced the result keeps it */
  resultId: string;
  /** the kernel session that holds it; a view whose session is gone offers to re-run the cell */
  kernelSession: string;
  /** the modes a click may ask for */
  modes: RerunMode[];
  /** TypeScript that reproduces a rerun, with `$TARGET` and `$MODE` placeholders (for "Insert as code") */
  code?: string;
}

export type RerunMode = "patch" | "zero";

export interface HeadsView extends ViewBase {
  axes: ["layer", "head"] | ["layer", "head", "pos"];
  /** row-major over `axes` */
  values: EncodedTensor;
  /** the input's token strings, when a pos axis is present */
  tokens?: string[];
  /** what a value is, e.g. "patching effect (normalized)" */
  valueLabel: string;
  metric?: MetricInfo;
  rerun?: RerunInfo;
}

export interface PositionsView extends ViewBase {
  axes: ["layer", "pos"];
  values: EncodedTensor;
  tokens: string[];
  /** which activation, e.g. "resid_pre" */
  component: string;
  valueLabel: string;
  metric?: MetricInfo;
  rerun?: RerunInfo;
}

export interface ComponentsView extends ViewBase {
  /** component labels in order, e.g. "embed", "a0.h1", "m0", "bias" */
  labels: string[];
  values: number[];
  valueLabel: string;
}

export interface AttentionView extends ViewBase {
  layer: number;
  /** head indices shown, in order */
  heads: number[];
  tokens: string[];
  /** [head, query_pos, key_pos], heads in the order of `heads` */
  patterns: EncodedTensor;
}

export interface TokenProb {
  token: string;
  id: number;
  prob: number;
}

export interface LogitLensView extends ViewBase {
  tokens: string[];
  /** row labels, e.g. "resid_post 0" ... "logits" */
  layers: string[];
  /** top[layer][pos] = the top tokens at that layer and position, most probable first */
  top: TokenProb[][][];
  /** probability of a target token, [layer, pos], when one was named */
  target?: { token: string; probs: EncodedTensor };
}

export interface MassiveEntry {
  layer: number;
  /** position in the text, and the text it came from */
  pos: number;
  text: number;
  token: string;
  dim: number;
  value: number;
  /** |value| / the layer's median |value| */
  ratio: number;
}

export interface MassiveView extends ViewBase {
  /** the hook whose values were measured per layer, e.g. "hook_resid_post" */
  hook: string;
  /** per layer: the largest, second and third largest absolute values and the median */
  top1: number[];
  top2: number[];
  top3: number[];
  median: number[];
  flagged: MassiveEntry[];
  /** token x channel absolute values for a layer picker: [layer, pos, channel] of text `text` */
  magnitudes: { text: number; tokens: string[]; channels: number[]; values: EncodedTensor };
  /** attention each head gives the flagged tokens, averaged over queries: [layer, head] */
  sink?: EncodedTensor;
}

export type CircuitNodeKind = "input" | "head" | "mlp" | "logits";
export type EdgeInput = "q" | "k" | "v";

export interface CircuitNode {
  /** "input", "a{L}.h{H}", "m{L}" or "logits" */
  id: string;
  kind: CircuitNodeKind;
  /** null for input and logits */
  layer: number | null;
  head?: number;
  /** importance of the node (for example its patching effect) */
  score: number;
  inGraph: boolean;
}

export interface CircuitEdge {
  from: string;
  to: string;
  /** into a head: which of its inputs; absent elsewhere */
  input?: EdgeInput;
  score: number;
  inGraph: boolean;
}

export interface CircuitView extends ViewBase {
  /** the model's shape, as EAP-IG's Graph cfg */
  cfg: { nLayers: number; nHeads: number; dModel: number; parallelAttnMlp: boolean };
  nodes: CircuitNode[];
  edges: CircuitEdge[];
  metric?: MetricInfo;
  /** the metric recovered by the circuit alone, everything else patched to the corrupted run */
  faithfulness?: number;
  method: string;
}

export interface ViewPayloads {
  heads: HeadsView;
  positions: PositionsView;
  components: ComponentsView;
  circuit: CircuitView;
  massive: MassiveView;
  attention: AttentionView;
  logitLens: LogitLensView;
}

// ---------------------------------------------------------------------------------------------
// Click-to-patch: renderer -> host -> kernel, and the answer back. Tagged by `type`.

export interface RerunTarget {
  /** heads patched together (shift-click builds the set) */
  heads?: { layer: number; head: number }[];
  /** a [layer, pos] cell of a positions view */
  cell?: { layer: number; pos: number };
  /** restrict a head patch to one position ([layer, head, pos] views) */
  pos?: number;
}

export interface RerunRequest {
  type: "steer.rerun";
  requestId: string;
  resultId: string;
  kernelSession: string;
  target: RerunTarget;
  mode: RerunMode;
}

export interface RerunAnswer {
  type: "steer.rerun-result";
  requestId: string;
  resultId: string;
  outcome:
    | { ok: true; metricBefore: number; metricAfter: number; normalizedAfter?: number; topBefore: TokenProb[]; topAfter: TokenProb[] }
    | { ok: false; reason: "unknown-result" | "failed"; message: string };
}

/**
 * RerunInfo.code with its placeholders filled: `$TARGET` becomes the target as an object literal,
 * `$MODE` the mode as a string literal (so a template reads `result.rerun($TARGET, $MODE)`).
 */
export function fillRerunCode(code: string, target: RerunTarget, mode: RerunMode): string {
  return code.replaceAll("$TARGET", JSON.stringify(target)).replaceAll("$MODE", JSON.stringify(mode));
}

/** View -> host: add a code cell below the cell whose output `outputId` is, holding `code`. */
export interface InsertCodeRequest {
  type: "steer.insert-code";
  outputId?: string;
  code: string;
}

/** View -> host: run again the cell whose output `outputId` is (its kernel no longer holds the result). */
export interface RerunCellRequest {
  type: "steer.rerun-cell";
  outputId?: string;
}

/** Host -> view: the notebook has no running kernel, so `request` went nowhere. */
export interface KernelUnavailable {
  type: "kernel-unavailable";
  request: unknown;
}

/** The notebook renderer (package.json "notebookRenderer" id) that draws each view. */
export const VIEW_RENDERERS: Record<ViewKind, string> = {
  heads: "steer-heads",
  positions: "steer-positions",
  components: "steer-components",
  circuit: "steer-circuit",
  massive: "steer-massive",
  attention: "steer-attention",
  logitLens: "steer-logit-lens",
};

// ---------------------------------------------------------------------------------------------
// Circuit export: renderer (or the "Export Circuit Diagram" command) -> host -> kernel, which runs
// the lens exporters and answers; the host writes the file next to the notebook and tells the view.

/** the lens exporters' formats (src/lens/circuit-export.ts); "json" is EAP-IG's graph JSON */
export const CIRCUIT_EXPORT_FORMATS = ["svg", "png", "dot", "mermaid", "json"] as const;
export type CircuitExportFormat = (typeof CIRCUIT_EXPORT_FORMATS)[number];
/** The file extension each export format is written with. */
export const CIRCUIT_EXPORT_EXTENSIONS: Record<CircuitExportFormat, string> = { svg: "svg", png: "png", dot: "dot", mermaid: "mmd", json: "json" };

export interface ExportCircuitRequest {
  type: "steer.export-circuit";
  requestId: string;
  /** the notebook output the circuit came from; the host names the file after its cell */
  outputId: string;
  format: CircuitExportFormat;
  /** the circuit as shown: a view's threshold is applied by setting `inGraph` on nodes and edges */
  circuit: CircuitView;
}

export type ExportResult = { type: "steer.export-result"; requestId: string; format: CircuitExportFormat } & (
  | { ok: true; /** suggested file name, e.g. "circuit.svg" */ fileName: string; encoding: "utf8" | "base64"; data: string }
  | { ok: false; message: string }
);

/** Host -> view: where the export was written, or why it was not. */
export interface ExportSaved {
  type: "steer.export-saved";
  requestId: string;
  format: CircuitExportFormat;
  outcome: { ok: true; path: string } | { ok: false; message: string };
}

// ---------------------------------------------------------------------------------------------
// The variables panel (src/extension/variables-panel.ts): a tensor among the kernel's variables drawn
// as a heatmap. Not a notebook output, so it has no mime: the host asks the kernel for a slice
// (kernel-messages.ts "variable-view") and posts it to the panel's webview.

/**
 * The most rows, and the most columns, a tensor slice carries: past about 32k CSS pixels a canvas
 * stops painting, and a cell is at least 6 px wide (webview/grid.ts). The slice also stays under
 * VIEW_VALUE_CAP values in all.
 */
export const TENSOR_VIEW_AXIS_CAP = 2048;

/** One 2-D slice of a tensor variable: its last two axes at the leading indices `slice`. */
export interface TensorSliceView extends ViewBase {
  /** what was viewed: a variable name or a path into one, e.g. `cache["blocks.0.hook_resid_post"]` */
  name: string;
  /** the whole tensor's shape and axis names */
  shape: number[];
  dims: string[];
  /** indices along the leading axes (all but the last two) the slice is taken at; [] for 1-D and 2-D */
  slice: number[];
  /** [rows, cols] (a 1-D tensor is one row); the first rows and columns only when `reduced` says so */
  values: EncodedTensor;
}

/** Variables panel -> host: the page has loaded; post it the slice to draw. */
export interface VariablePanelReady {
  type: "steer.variable-ready";
}

/** Variables panel -> host: draw the slice of `name` at these leading indices (the slice stepper). */
export interface VariableSliceRequest {
  type: "steer.variable-slice";
  requestId: string;
  name: string;
  slice: number[];
}

/** Host -> variables panel: a slice to draw (answering `requestId`, or unasked after a refresh), or why there is none. */
export interface VariableSliceAnswer {
  type: "steer.variable-view";
  requestId?: string;
  outcome: { ok: true; view: TensorSliceView } | { ok: false; message: string };
}
