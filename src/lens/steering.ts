/**
 * Steering vectors: contrastive directions in the residual stream (representation engineering as in
 * vgel/repeng, contrastive activation addition), applied with hooks or as llama.cpp's own control
 * vector, and saved in llama.cpp's control-vector GGUF format so `llama-cli --control-vector` can use them.
 *
 * Layers follow llama.cpp and repeng: the direction of layer L is read from and added to the output
 * of block L (blocks.L.hook_resid_post, llama.cpp's l_out-L, repeng's hidden_states[L + 1]).
 */
import { BadArgumentError, checkIndex, addVector, type HookFn, type Hooks, type Model } from "../engine";
import { readControlVector, writeControlVector } from "./control-vector";
import { promptList, type Prompt } from "./inputs";
import { dot, l2 } from "./vectors";

/** "mean-diff": the mean of (positive - negative); "pca": the first principal direction of those differences, unit norm. */
export type SteeringMethod = "mean-diff" | "pca";
/** A contrast pair: a prompt showing the behaviour and one showing its opposite. */
export type ContrastPair = readonly [positive: Prompt, negative: Prompt];

export interface ContrastOptions {
  /** blocks whose output is read and steered (default: every block but the first, as repeng; llama.cpp never steers block 0) */
  layers?: readonly number[];
  /** default "pca", repeng's default (pca_diff) */
  method?: SteeringMethod;
  /** the activation of the last token (default, as repeng) or the mean over the prompt's tokens */
  position?: "last" | "mean";
  /** residual dimensions left out (zeroed in the differences and the vector), e.g. massive-activation dimensions */
  excludeDims?: readonly number[];
}

export interface SteeringHookOptions {
  /** multiplies every direction (default 1; negative steers the other way) */
  strength?: number;
  /** a subset of the vector's layers (default all) */
  layers?: readonly number[];
  /** absolute token positions to steer (default all, as llama.cpp's control vectors do) */
  positions?: readonly number[];
}

export interface SteeringVectorInit {
  /** layer -> direction of d_model values */
  directions: ReadonlyMap<number, Float32Array | readonly number[]> | Record<number, Float32Array | readonly number[]>;
  /** the architecture the vector was made for ("llama", "gpt2", ...): controlvector.model_hint */
  modelHint?: string;
  /** how it was made; "file" when loaded, "custom" when built by hand */
  method?: SteeringMethod | "file" | "custom";
  position?: "last" | "mean";
  pairs?: number;
  excludeDims?: readonly number[];
  /** the file it was loaded from */
  source?: string;
}

const residPost = (layer: number) => `blocks.${layer}.hook_resid_post`;


/** Directions per layer, with the display and file forms; not a view, a markdown summary is its display. */
export class SteeringVector {
  readonly directions: ReadonlyMap<number, Float32Array>;
  readonly modelHint: string;
  readonly method: SteeringMethod | "file" | "custom";
  readonly position?: "last" | "mean";
  readonly pairs?: number;
  readonly excludeDims: readonly number[];
  readonly source?: string;

  constructor(init: SteeringVectorInit) {
    const entries = init.directions instanceof Map ? [...init.directions] : Object.entries(init.directions ?? {}).map(([k, v]) => [Number(k), v] as const);
    if (entries.length === 0) throw new BadArgumentError("A steering vector needs at least one layer's direction, e.g. new SteeringVector({ directions: { 2: vector } }).");
    const dirs = new Map<number, Float32Array>();
    for (const [layer, v] of entries.sort((a, b) => a[0] - b[0])) {
      if (!Number.isInteger(layer) || layer < 0) throw new BadArgumentError(`Steering vector layers are block indices (integers from 0), got ${layer}.`);
      const data = Float32Array.from(v);
      if (data.length === 0 || data.some((x) => !Number.isFinite(x))) throw new BadArgumentError(`The direction of layer ${layer} must be a non-empty list of finite numbers.`);
      dirs.set(layer, data);
    }
    const nEmbd = dirs.values().next().value!.length;
    for (const [l, d] of dirs) if (d.length !== nEmbd) throw new BadArgumentError(`The direction of layer ${l} has ${d.length} values, others have ${nEmbd}: every layer needs d_model values.`);
    this.directions = dirs;
    this.modelHint = init.modelHint ?? "";
    this.method = init.method ?? "custom";
    this.position = init.position;
    this.pairs = init.pairs;
    this.excludeDims = [...(init.excludeDims ?? [])];
    this.source = init.source;
  }

  /** Steered layers, ascending. */
  get layers(): number[] {
    return [...this.directions.keys()];
  }

  /** The residual width the vector was made for. */
  get nEmbd(): number {
    return this.directions.values().next().value!.length;
  }

  /**
   * Hooks adding strength * direction to each layer's blocks.L.hook_resid_post, for
   * model.generate(prompt, { hooks }), runWithHooks and runBatch.
   */
  hooks(options: SteeringHookOptions = {}): Hooks {
    const strength = options.strength ?? 1;
    if (typeof strength !== "number" || !Number.isFinite(strength)) throw new BadArgumentError(`strength must be a finite number, got ${String(strength)}.`);
    const layers = options.layers ?? this.layers;
    const out: Hooks = {};
    for (const l of layers) {
      const dir = this.direction(l);
      const add = addVector(dir, { scale: strength, positions: options.positions });
      const hook: HookFn = (t, ctx) => {
        const width = t.shape[t.shape.length - 1];
        if (width !== dir.length) throw this.sizeError(width, ctx.name);
        return add(t, ctx);
      };
      out[residPost(l)] = hook;
    }
    return out;
  }

  /**
   * The buffer llama.cpp's llama_set_adapter_cvec takes (what common_control_vector_load builds from
   * this vector's file at this strength): d_model values per layer from layer 1 on, zeros for layers
   * the vector does not steer.
   */
  controlVectorData(config: { nLayers: number; dModel: number }, strength = 1): Float32Array {
    if (config.dModel !== this.nEmbd) throw this.sizeError(config.dModel, "the residual stream");
    const data = new Float32Array((config.nLayers - 1) * config.dModel);
    for (const [l, d] of this.directions) {
      if (l === 0) throw new BadArgumentError("llama.cpp control vectors cannot steer layer 0: use hooks() for it, or make the vector without layer 0.");
      if (l >= config.nLayers) throw new BadArgumentError(`This vector steers layer ${l}, but the model has ${config.nLayers} layers (0..${config.nLayers - 1}).`);
      for (let j = 0; j < d.length; j++) data[(l - 1) * config.dModel + j] = Math.fround(d[j] * strength);
    }
    return data;
  }

  /** Applies the vector through llama.cpp's own control-vector path; `model.setControlVector(null)` removes it. */
  applyAsControlVector(model: Model, options: { strength?: number } = {}): void {
    model.setControlVector(this.controlVectorData(model.config, options.strength ?? 1));
  }

  /** Writes llama.cpp's control-vector GGUF (loadable with `llama-cli --control-vector path`). */
  save(path: string): void {
    writeControlVector(path, { modelHint: this.modelHint, directions: new Map(this.directions) });
  }

  /** Reads a control-vector GGUF (from save, repeng's export_gguf or llama.cpp's cvector-generator). */
  static load(path: string): SteeringVector {
    const file = readControlVector(path);
    return new SteeringVector({ directions: file.directions, modelHint: file.modelHint, method: "file", source: path });
  }

  toJSON() {
    return {
      modelHint: this.modelHint,
      method: this.method,
      ...(this.position ? { position: this.position } : {}),
      ...(this.pairs !== undefined ? { pairs: this.pairs } : {}),
      ...(this.excludeDims.length ? { excludeDims: [...this.excludeDims] } : {}),
      ...(this.source ? { source: this.source } : {}),
      nEmbd: this.nEmbd,
      layers: this.layers,
      directions: Object.fromEntries([...this.directions].map(([l, d]) => [l, Array.from(d)])),
    };
  }

  /** e.g. "steering vector (pca, 12 pairs), layers 1-3, d_model 64". */
  summary(): string {
    const how = [this.method, this.pairs !== undefined ? `${this.pairs} pairs` : ""].filter(Boolean).join(", ");
    const ls = this.layers;
    const contiguous = ls.every((l, i) => i === 0 || l === ls[i - 1] + 1);
    const span = ls.length > 2 && contiguous ? `${ls[0]}-${ls[ls.length - 1]}` : ls.join(", ");
    return `steering vector (${how}), layer${ls.length > 1 ? "s" : ""} ${span}, d_model ${this.nEmbd}`;
  }

  markdown(): string {
    const lines = [`**Steering vector** (${this.method}${this.modelHint ? `, made for ${this.modelHint}` : ""})`, ""];
    const facts = [
      this.pairs !== undefined ? `${this.pairs} contrast pairs` : "",
      this.position ? `${this.position} token` : "",
      this.excludeDims.length ? `dimensions left out: ${this.excludeDims.join(", ")}` : "",
      this.source ? `from \`${this.source}\`` : "",
      `d_model ${this.nEmbd}`,
    ].filter(Boolean);
    lines.push(facts.join("; "), "", "| layer | hook | norm |", "|---|---|---|");
    for (const [l, d] of this.directions) lines.push(`| ${l} | \`${residPost(l)}\` | ${l2(d).toPrecision(4)} |`);
    return lines.join("\n");
  }

  toSteerOutput(): { items: { mime: string; data: unknown }[]; metadata: Record<string, unknown> } {
    return { items: [{ mime: "text/markdown", data: this.markdown() }], metadata: { summary: this.summary() } };
  }

  toString(): string {
    return this.summary();
  }

  private direction(layer: number): Float32Array {
    const d = this.directions.get(layer);
    if (!d) throw new BadArgumentError(`This steering vector has no direction for layer ${layer}; it has layers ${this.layers.join(", ")}.`);
    return d;
  }

  private sizeError(width: number, where: string): BadArgumentError {
    return new BadArgumentError(
      `This steering vector has ${this.nEmbd} values per layer${this.modelHint ? ` (made for a ${this.modelHint} model)` : ""}, but ${where} of this model has d_model ${width}: use a vector made for this model.`,
    );
  }
}

/** Reads a llama.cpp control-vector GGUF file. */
export function load(path: string): SteeringVector {
  return SteeringVector.load(path);
}

/**
 * A steering vector from contrast pairs: for each layer, the residual stream after the block on each
 * positive prompt minus the same on its negative prompt, averaged ("mean-diff") or reduced to its
 * first principal direction ("pca": unit norm, signed so positives project higher on most pairs, as
 * repeng decides the sign).
 *
 * The principal direction is that of the uncentered differences (the top right singular vector):
 * repeng's sklearn PCA centers them first, which removes the shift every pair shares
 * (vgel/repeng issue #28), and leaves nothing at all with a single pair.
 */
export async function contrast(model: Model, pairs: readonly ContrastPair[], options: ContrastOptions = {}): Promise<SteeringVector> {
  const { nLayers, dModel } = model.config;
  if (!Array.isArray(pairs) || pairs.length === 0) throw new BadArgumentError('pairs must be a non-empty list of [positive, negative] prompts, e.g. [["I love this", "I hate this"]].');
  const prompts = pairs.map((p, i) => {
    const list = Array.isArray(p) ? promptList(p as unknown as Prompt[], `pairs[${i}]`) : [];
    if (list.length !== 2) throw new BadArgumentError(`pairs[${i}] must be [positive, negative]: two prompts (text or token ids).`);
    return list as [Prompt, Prompt];
  });
  const layers = [...(options.layers ?? (nLayers > 1 ? Array.from({ length: nLayers - 1 }, (_, i) => i + 1) : [0]))];
  if (layers.length === 0) throw new BadArgumentError("layers is empty: name at least one block, e.g. { layers: [2] }.");
  for (const l of layers) checkIndex("Layer", l, nLayers, `this model has ${nLayers} blocks`);
  if (new Set(layers).size !== layers.length) throw new BadArgumentError(`layers has repeats: [${layers.join(", ")}].`);
  const method = options.method ?? "pca";
  if (method !== "pca" && method !== "mean-diff") throw new BadArgumentError(`method must be "pca" or "mean-diff", got ${JSON.stringify(method)}.`);
  const position = options.position ?? "last";
  if (position !== "last" && position !== "mean") throw new BadArgumentError(`position must be "last" or "mean", got ${JSON.stringify(position)}.`);
  const excluded = [...(options.excludeDims ?? [])];
  for (const j of excluded) if (!Number.isInteger(j) || j < 0 || j >= dModel) throw new BadArgumentError(`excludeDims: ${j} is not a residual dimension (valid: 0..${dModel - 1}).`);

  const names = layers.map(residPost);
  const runs = await model.runBatch(prompts.flatMap(([p, n]) => [p, n].map((input) => ({ input, names, logits: "last" as const }))));
  const read = (run: number, layer: number): Float64Array => {
    const t = runs[run].cache.get(residPost(layer));
    const [n, d] = t.shape;
    const out = new Float64Array(d);
    const rows = position === "last" ? [n - 1] : Array.from({ length: n }, (_, i) => i);
    for (const r of rows) for (let j = 0; j < d; j++) out[j] += t.data[r * d + j] / rows.length;
    return out;
  };

  const directions = new Map<number, Float32Array>();
  for (const layer of layers) {
    const diffs = prompts.map((_, i) => {
      const pos = read(2 * i, layer);
      const neg = read(2 * i + 1, layer);
      for (let j = 0; j < dModel; j++) pos[j] -= neg[j];
      for (const j of excluded) pos[j] = 0;
      return pos;
    });
    const mean = new Float64Array(dModel);
    for (const d of diffs) for (let j = 0; j < dModel; j++) mean[j] += d[j] / diffs.length;
    if (l2(mean) === 0 && diffs.every((d) => l2(d) === 0)) {
      throw new BadArgumentError(`At layer ${layer} every positive prompt has the same activation as its negative: there is nothing to contrast. Use pairs that differ before their last token${position === "last" ? ' or position: "mean"' : ""}.`);
    }
    directions.set(layer, Float32Array.from(method === "mean-diff" ? mean : principalDirection(diffs, mean)));
  }
  return new SteeringVector({ directions, modelHint: model.config.arch, method, position, pairs: prompts.length, excludeDims: excluded });
}

/**
 * The unit vector v maximizing sum_i (d_i . v)^2, by power iteration on D^T D applied as
 * D^T (D v) (no d_model^2 matrix), started from the mean difference; sign as repeng chooses it.
 */
function principalDirection(diffs: readonly Float64Array[], mean: Float64Array): Float64Array {
  const d = mean.length;
  let v = Float64Array.from(l2(mean) > 0 ? mean : diffs.find((x) => l2(x) > 0)!);
  const scale = (x: Float64Array) => {
    const n = l2(x);
    for (let j = 0; j < d; j++) x[j] /= n;
    return x;
  };
  scale(v);
  for (let it = 0; it < 1000; it++) {
    const w = new Float64Array(d);
    for (const x of diffs) {
      const c = dot(x, v);
      for (let j = 0; j < d; j++) w[j] += c * x[j];
    }
    scale(w);
    const cos = dot(w, v);
    v = w;
    if (1 - Math.abs(cos) < 1e-13) break;
  }
  // repeng: flip when more pairs have the positive projecting lower than the negative; ties go by the mean.
  const higher = diffs.filter((x) => dot(x, v) > 0).length;
  const lower = diffs.filter((x) => dot(x, v) < 0).length;
  if (lower > higher || (lower === higher && dot(mean, v) < 0)) for (let j = 0; j < d; j++) v[j] = -v[j];
  return v;
}
