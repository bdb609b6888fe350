/**
 * The variables view: the cells' top-level names, each with its type and a one-line summary; tensors
 * with their shape and axis names, caches and objects holding tensors with their entries; and a
 * tensor (or a cache's entry) as one 2-D slice for the variables panel's heatmap.
 */
import { inspect } from "node:util";
import { ActivationCache, Tensor } from "../engine";
import { encodeTensor, TENSOR_VIEW_AXIS_CAP, VIEW_VALUE_CAP, type TensorSliceView, type VariableInfo, type VariableViewResult } from "../protocol";

const SUMMARY_LENGTH = 120;
/** Entries listed per cache, Map or object: a cache of every hook of a large model stays listable. */
const ENTRY_LIMIT = 2000;
/**
 * Value ranges cost a pass over the data on every refresh: past this many values in all (a cache of
 * every hook of a large model), the remaining tensors are listed without one.
 */
const RANGE_BUDGET = 20_000_000;

export function describeVariables(names: Iterable<string>): VariableInfo[] {
  const globals = globalThis as Record<string, unknown>;
  const out: VariableInfo[] = [];
  const budget = { values: RANGE_BUDGET };
  for (const name of [...names].sort()) {
    if (!(name in globals)) continue;
    out.push(describe(name, globals[name], true, budget));
  }
  return out;
}

interface Budget {
  values: number;
}

function describe(name: string, value: unknown, listEntries: boolean, budget: Budget): VariableInfo {
  if (value instanceof Tensor) return describeTensor(name, value, budget);
  const entries = listEntries ? entriesOf(name, value, budget) : undefined;
  if (value instanceof ActivationCache) {
    const keys = value.keys();
    return { name, type: `ActivationCache(${value.size})`, summary: clip(`ActivationCache(${value.size}) { ${keys.join(", ")} }`), entries };
  }
  const type = value instanceof Map && entries?.length ? `Map(${value.size})` : typeName(value);
  return { name, type, summary: summarize(value), ...(entries?.length ? { entries } : {}) };
}

function describeTensor(name: string, t: Tensor, budget: Budget): VariableInfo {
  const measured = t.size > 0 && t.size <= budget.values;
  if (measured) budget.values -= t.size;
  const range = measured ? `, values ${valueRange(t.data)}` : "";
  return { name, type: "Tensor", summary: `${shapeText(t)}${range}`, shape: [...t.shape], dims: [...t.dims] };
}

/** `Tensor [pos, d_model] 7x64` */
export function shapeText(t: Tensor): string {
  return `Tensor [${t.dims.join(", ")}] ${t.shape.length ? t.shape.join("x") : "scalar"}`;
}

function valueRange(data: Float32Array): string {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return `${short(min)} .. ${short(max)}`;
}

function short(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(3))) : String(v);
}

/** The tensors a cache, a Map or a plain object holds (a cache inside an object is listed too), by path. */
function entriesOf(name: string, value: unknown, budget: Budget): VariableInfo[] | undefined {
  let pairs: [string, unknown][];
  if (value instanceof ActivationCache) pairs = value.keys().slice(0, ENTRY_LIMIT).map((k) => [`${name}[${JSON.stringify(k)}]`, value.get(k)]);
  else if (value instanceof Map) pairs = [...value].filter(([k, v]) => typeof k === "string" && v instanceof Tensor).slice(0, ENTRY_LIMIT).map(([k, v]) => [`${name}[${JSON.stringify(k)}]`, v]);
  else if (isPlainObject(value)) pairs = Object.keys(value).slice(0, ENTRY_LIMIT).map((k) => [`${name}${/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`, safeGet(value, k)]);
  else return undefined;
  const holdsTensors = (v: unknown) => v instanceof Tensor || v instanceof ActivationCache;
  return pairs.filter(([, v]) => holdsTensors(v)).map(([path, v]) => describe(path, v, v instanceof ActivationCache, budget));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function safeGet(o: Record<string, unknown>, key: string): unknown {
  try {
    return o[key];
  } catch {
    return undefined;
  }
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === "function") return /^class\b/.test(Function.prototype.toString.call(value)) ? "class" : "function";
  if (typeof value !== "object") return typeof value;
  if (ArrayBuffer.isView(value) && "length" in value) return `${value.constructor.name}(${(value as unknown as { length: number }).length})`;
  // esbuild renames classes whose names clash inside the kernel bundle (Model becomes _Model).
  return String(Object.getPrototypeOf(value)?.constructor?.name ?? "Object").replace(/^_+(?=[A-Z])/, "");
}

function summarize(value: unknown): string {
  let text: string;
  try {
    text = inspect(value, { depth: 0, breakLength: Infinity, maxArrayLength: 8, maxStringLength: SUMMARY_LENGTH, compact: true });
  } catch (e) {
    text = `<summary failed: ${(e as Error).message}>`;
  }
  return clip(text);
}

function clip(text: string): string {
  text = text.replace(/\s+/g, " ");
  return text.length > SUMMARY_LENGTH ? text.slice(0, SUMMARY_LENGTH - 1) + "…" : text;
}

// ---------------------------------------------------------------------------------------------
// variable-view: a path to a tensor, resolved without evaluating code.

type Outcome = VariableViewResult["outcome"];

class ViewError extends Error {}

/** Segments of `name.field["key"][0]`; `.get("key")` reads as `["key"]`. */
function parsePath(path: string): { root: string; segments: (string | number)[] } {
  const rootMatch = /^\s*([A-Za-z_$][\w$]*)/.exec(path);
  if (!rootMatch) throw new ViewError(`"${path}" is not a variable name or a path such as cache["blocks.0.hook_resid_post"].`);
  const segments: (string | number)[] = [];
  let rest = path.slice(rootMatch[0].length).trimEnd();
  const patterns: [RegExp, (m: RegExpExecArray) => string | number][] = [
    [/^\.get\(\s*("(?:[^"\\]|\\.)*")\s*\)/, (m) => JSON.parse(m[1]) as string],
    [/^\.get\(\s*'([^'\\]*)'\s*\)/, (m) => m[1]],
    [/^\.([A-Za-z_$][\w$]*)/, (m) => m[1]],
    [/^\[\s*("(?:[^"\\]|\\.)*")\s*\]/, (m) => JSON.parse(m[1]) as string],
    [/^\[\s*'([^'\\]*)'\s*\]/, (m) => m[1]],
    [/^\[\s*(\d+)\s*\]/, (m) => Number(m[1])],
  ];
  while (rest) {
    const hit = patterns.map(([re, read]) => [re.exec(rest), read] as const).find(([m]) => m);
    if (!hit) throw new ViewError(`cannot read "${rest}" in "${path}": a path goes on with .field, ["key"], [0] or .get("key").`);
    const [m, read] = hit;
    segments.push(read(m!));
    rest = rest.slice(m![0].length);
  }
  return { root: rootMatch[1], segments };
}

function resolve(names: ReadonlySet<string>, path: string): unknown {
  const { root, segments } = parsePath(path);
  const globals = globalThis as Record<string, unknown>;
  if (!names.has(root) || !(root in globals)) throw new ViewError(`No variable "${root}" in the kernel.`);
  let value = globals[root];
  let at = root;
  for (const seg of segments) {
    const step = typeof seg === "number" ? `[${seg}]` : `[${JSON.stringify(seg)}]`;
    if (value instanceof ActivationCache || value instanceof Map) {
      if (!value.has(seg as string)) {
        const keys = value instanceof ActivationCache ? value.keys() : [...value.keys()].map(String);
        throw new ViewError(`${at} has no entry ${JSON.stringify(seg)}; it has ${keys.length} entries${keys.length ? `, e.g. ${keys.slice(0, 4).map((k) => JSON.stringify(k)).join(", ")}` : ""}.`);
      }
      value = value.get(seg as string);
    } else if (typeof value === "object" && value !== null && seg in value) {
      value = (value as Record<string | number, unknown>)[seg];
    } else {
      throw new ViewError(`${at} (${typeName(value)}) has no ${typeof seg === "number" ? "item" : "field"} ${step}.`);
    }
    at += step;
  }
  return value;
}

/** What can be viewed, for error messages: tensor variables and paths to tensors inside others. */
function viewable(names: ReadonlySet<string>): string {
  // Tensor variables first, then the tensors inside caches and objects.
  const variables = describeVariables(names);
  const nested: string[] = [];
  const walk = (infos: VariableInfo[]) => {
    for (const v of infos) {
      if (v.shape) nested.push(v.name);
      if (v.entries) walk(v.entries);
    }
  };
  walk(variables.flatMap((v) => v.entries ?? []));
  const paths = [...variables.filter((v) => v.shape).map((v) => v.name), ...nested];
  if (!paths.length) return "No variable holds a Tensor yet (run a cell that makes one, e.g. `const { logits, cache } = await model.runWithCache(tokens)`).";
  const shown = paths.slice(0, 6).join(", ");
  return `Viewable: ${shown}${paths.length > 6 ? `, and ${paths.length - 6} more` : ""}.`;
}

/**
 * The slice of the tensor at `path` the panel draws: 1-D as one row, 2-D as is, 3-D and up its last
 * two axes at the leading indices `slice` (default 0s). Over TENSOR_VIEW_AXIS_CAP rows or columns, or
 * VIEW_VALUE_CAP values, it keeps the first rows and columns and says so in `reduced`.
 */
export function viewVariable(names: ReadonlySet<string>, path: string, slice: readonly number[] = []): Outcome {
  try {
    return { ok: true, view: sliceView(path, resolve(names, path), slice) };
  } catch (e) {
    // A getter on the path may throw: the panel shows the message instead of waiting for an answer.
    if (!(e instanceof ViewError)) return { ok: false, message: `Could not view ${path}: ${e instanceof Error ? e.message : String(e)}` };
    return { ok: false, message: `${e.message} ${viewable(names)}` };
  }
}

function sliceView(path: string, value: unknown, slice: readonly number[]): TensorSliceView {
  if (!(value instanceof Tensor)) {
    const what = value instanceof ActivationCache ? `an ActivationCache: view one of its entries, e.g. ${path}[${JSON.stringify(value.keys()[0] ?? "blocks.0.hook_resid_post")}]` : `${typeName(value)}, not a Tensor`;
    throw new ViewError(`${path} is ${what}.`);
  }
  const { shape, dims } = value;
  if (value.size === 0) throw new ViewError(`${path} is empty (shape [${shape.join(", ")}]): nothing to draw.`);
  const leading = Math.max(0, shape.length - 2);
  if (slice.length > leading) throw new ViewError(`${path} has ${leading} leading axes to slice (shape [${shape.join(", ")}]), got ${slice.length} indices [${slice.join(", ")}].`);
  const at = Array.from({ length: leading }, (_, i) => slice[i] ?? 0);
  at.forEach((k, i) => {
    if (!Number.isInteger(k) || k < 0 || k >= shape[i]) throw new ViewError(`slice index ${k} is out of range for ${dims[i]} (size ${shape[i]}) of ${path}: use 0 to ${shape[i] - 1}.`);
  });
  const rows = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const cols = shape.length >= 1 ? shape[shape.length - 1] : 1;
  const base = at.reduce((o, k, i) => o * shape[i] + k, 0) * rows * cols;
  const keptCols = Math.min(cols, TENSOR_VIEW_AXIS_CAP);
  const keptRows = Math.min(rows, TENSOR_VIEW_AXIS_CAP, Math.floor(VIEW_VALUE_CAP / keptCols));
  const out = new Float32Array(keptRows * keptCols);
  for (let r = 0; r < keptRows; r++) out.set(value.data.subarray(base + r * cols, base + r * cols + keptCols), r * keptCols);
  const dropped = [
    keptRows < rows ? `the first ${keptRows} of ${rows} ${shape.length >= 2 ? dims[shape.length - 2] : ""} rows` : "",
    keptCols < cols ? `the first ${keptCols} of ${cols} ${dims[shape.length - 1] ?? ""} columns` : "",
  ].filter(Boolean).map((s) => s.replace(/ {2,}/g, " "));
  const where = at.length ? ` at ${at.map((k, i) => `${dims[i]} ${k}`).join(", ")}` : "";
  return {
    title: `${path}: ${shapeText(value)}${where}`,
    name: path,
    shape: [...shape],
    dims: [...dims],
    slice: at,
    values: encodeTensor([keptRows, keptCols], out),
    ...(dropped.length ? { reduced: `showing ${dropped.join(" and ")} (at most ${TENSOR_VIEW_AXIS_CAP} per axis and ${VIEW_VALUE_CAP} values); slice the tensor in a cell to see the rest` } : {}),
  };
}
