/**
 * Edge attribution patching (EAP, Syed et al. 2023), EAP-IG (Hanna et al. 2024) and relevance patching
 * (RelP, Jafari et al. 2025) on EAP-IG's graph of the model (circuitEdges): input, heads and MLPs into
 * each later head's q, k and v, each later MLP, and the logits. An edge u -> v scores
 *   sum over positions of (a_u(clean) - a_u(corrupt)) . dmetric/d(v's input), at the corrupted run,
 * where a_u is what u writes into the residual stream (input: hook_resid_pre.0, the embeddings; a head:
 * its hook_result, z_h W_O[h]; an MLP: hook_mlp_out) and v's input is its own reader of the stream (the
 * gradient graph's split hooks hook_q_input / hook_k_input / hook_v_input, hook_mlp_in; for the logits,
 * the last hook_resid_post). Denoising, on patching's scale: a score is the share of the clean - corrupt
 * difference of the metric that the edge restores by the linear estimate. Under grouped-query attention
 * k and v are read per KV head: an edge into a{L}.h{H}<k> scores the input of h's KV head, shared by the
 * heads of its group (as path patching patches that KV head's input).
 */
import { BadArgumentError, type Model } from "../engine";
import { componentName, type CircuitView, type EdgeInput, type MetricInfo } from "../protocol";
import { attributionPasses, checkMethod, type AttributionPatchingOptions, type PromptPass } from "./attribution-gradients";
import { Circuit, circuitEdges, circuitNodes, type CircuitCfg } from "./circuit";
import { edgeName } from "./circuit-export";
import { LensResult } from "./result";
import { fmt, markdownTable } from "./text";

export type EdgeMethod = "eap" | "eap-ig" | "relevance";

export interface EdgeAttributionOptions extends Omit<AttributionPatchingOptions, "method"> {
  /** "eap" (default): the gradient at the corrupted run; "eap-ig": averaged over interpolated inputs; "relevance": LRP rules */
  method?: EdgeMethod;
}

export interface ScoredEdge {
  from: string;
  to: string;
  input?: EdgeInput;
  /** EAP-IG's name, e.g. "a0.h1->a2.h3<q>" */
  name: string;
  score: number;
}

/** Which edges a circuit keeps: the topN by |score|, or those with |score| >= threshold. */
export type EdgeSelection = { topN: number } | { threshold: number };

/** Edges the view draws: the strongest ones on an input -> logits path. */
const DRAWN_EDGES = 20;
const MARKDOWN_ROWS = 30;

/** A score for every edge of EAP-IG's graph; a circuit from the strongest (toCircuit). */
export class EdgeScores extends LensResult<"circuit"> {
  readonly view = "circuit" as const;
  #payload: CircuitView | undefined;

  constructor(
    /** in circuitEdges' order */
    readonly edges: readonly ScoredEdge[],
    readonly options: { cfg: CircuitCfg; method: string; metric: MetricInfo; title: string },
  ) {
    super();
  }

  /** An edge's score by its EAP-IG name ("a0.h1->a2.h3<q>", "m1->logits"). */
  get(name: string): number {
    const e = this.edges.find((x) => x.name === name);
    if (!e) throw new BadArgumentError(`No edge "${name}" in the model's graph: edges are named "input->a0.h1<q>", "a0.h1->a2.h3<k>", "m1->logits" (an edge goes to a later reader).`);
    return e.score;
  }

  /** The k edges with the largest |score|, largest first. */
  top(k = 10): ScoredEdge[] {
    if (!Number.isInteger(k) || k < 0) throw new BadArgumentError(`top(k): k should be a whole number >= 0, got ${String(k)}.`);
    return [...this.edges].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).slice(0, k);
  }

  /**
   * A circuit of the topN edges by |score| (or those with |score| >= threshold), pruned to the edges on
   * a path from the input to the logits, as EAP-IG's apply_topn / apply_threshold and prune do. Every
   * edge keeps its score (the JSON export carries them all); a node's score is the sum of |score| of the
   * in-graph edges into and out of it.
   */
  toCircuit(selection: EdgeSelection, extra: { title?: string; method?: string; faithfulness?: number } = {}): Circuit {
    const threshold = this.thresholdOf(selection);
    const nodes = circuitNodes(this.options.cfg).map((id) => ({ id, score: 0 }));
    const edges = this.edges.map(({ from, to, input, score }) => ({ from, to, ...(input ? { input } : {}), score }));
    const pruned = new Circuit({ cfg: this.options.cfg, nodes, edges }).prune(threshold);
    const nodeScore = new Map<string, number>();
    for (const e of pruned.edges) {
      if (!e.inGraph) continue;
      for (const id of [e.from, e.to]) nodeScore.set(id, (nodeScore.get(id) ?? 0) + Math.abs(e.score));
    }
    const how = "topN" in selection ? `top ${selection.topN} edges` : `|score| >= ${selection.threshold}`;
    return new Circuit({
      cfg: this.options.cfg,
      nodes: pruned.nodes.map((n) => ({ id: n.id, score: nodeScore.get(n.id) ?? 0, inGraph: n.inGraph })),
      edges: pruned.edges,
      title: extra.title ?? `${this.options.title}, ${how}`,
      method: extra.method ?? `${this.options.method}, ${how}`,
      metric: this.options.metric,
      ...(extra.faithfulness === undefined ? {} : { faithfulness: extra.faithfulness }),
    });
  }

  private thresholdOf(selection: EdgeSelection): number {
    const given = typeof selection === "object" && selection !== null ? Object.keys(selection).filter((k) => k === "topN" || k === "threshold") : [];
    if (given.length !== 1) throw new BadArgumentError(`Choose the circuit's edges with exactly one of { topN: number } or { threshold: number }, got ${JSON.stringify(selection)}.`);
    if ("topN" in selection) {
      const n = selection.topN;
      if (!Number.isInteger(n) || n < 1) throw new BadArgumentError(`topN should be a whole number >= 1 (edges to keep), got ${String(n)}.`);
      const nth = Math.abs(this.top(n)[Math.min(n, this.edges.length) - 1]?.score ?? 0);
      // Edges scored exactly 0 carry nothing: never kept, even when topN asks for more edges than scored.
      return nth > 0 ? nth : Number.MIN_VALUE;
    }
    const t = selection.threshold;
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw new BadArgumentError(`threshold should be a finite number >= 0 (compared with |score|), got ${String(t)}.`);
    return t;
  }

  payload(): CircuitView {
    this.#payload ??= { ...this.toCircuit({ topN: DRAWN_EDGES }).payload(), title: this.options.title };
    return this.#payload;
  }

  markdown(): string {
    const rows = this.top(MARKDOWN_ROWS).map((e) => [e.from, e.to, e.input ?? "", fmt(e.score)]);
    return [
      `**${this.options.title}** (${this.edges.length} edges; score: the share of ${this.options.metric.name}'s clean - corrupt difference the edge restores, estimated)`,
      "",
      markdownTable(["from", "to", "input", "score"], rows),
      ...(this.edges.length > MARKDOWN_ROWS ? ["", `… and ${this.edges.length - MARKDOWN_ROWS} more (edges.top(k), edges.edges).`] : []),
    ].join("\n");
  }

  summary(): string {
    const t = this.top(1)[0];
    return `${this.edges.length} edge scores${t ? `, top ${t.name} ${fmt(t.score)}` : ""}`;
  }
}

const methodName = (m: EdgeMethod, steps: number) => (m === "eap" ? "EAP" : m === "relevance" ? "relevance patching (RelP)" : `EAP-IG (${steps} steps)`);

/** The hook a receiver reads the residual stream through, and the row of it (head or KV head) that is its own. */
function readerOf(model: Model, to: string, input: EdgeInput | undefined): { hook: string; row: number | null } {
  const { nLayers, nHeads, nKvHeads } = model.config;
  if (to === "logits") return { hook: `blocks.${nLayers - 1}.hook_resid_post`, row: null };
  const m = /^a(\d+)\.h(\d+)$/.exec(to);
  if (m) {
    const head = Number(m[2]);
    return { hook: `blocks.${m[1]}.hook_${input}_input`, row: input === "q" ? head : Math.floor(head / (nHeads / nKvHeads)) };
  }
  return { hook: `blocks.${to.slice(1)}.hook_mlp_in`, row: null };
}

/** Each sender's output difference (clean - corrupt) written into the residual stream, [pos * d_model]. */
function senderDiffs(model: Model, p: PromptPass, WO: readonly Float32Array[]): Map<string, Float32Array> {
  const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = model.config;
  const diff = (name: string) => {
    const c = p.clean(name).data;
    const k = p.corrupt(name).data;
    return Float32Array.from(c, (v, j) => v - k[j]);
  };
  const out = new Map<string, Float32Array>([["input", diff("blocks.0.hook_resid_pre")]]);
  for (let l = 0; l < L; l++) {
    const dz = diff(`blocks.${l}.attn.hook_z`);
    const P = dz.length / (H * Dh);
    for (let h = 0; h < H; h++) {
      const r = new Float32Array(P * D);
      for (let pos = 0; pos < P; pos++) {
        for (let j = 0; j < Dh; j++) {
          const zv = dz[(pos * H + h) * Dh + j];
          if (zv === 0) continue;
          const w = WO[l].subarray((h * Dh + j) * D, (h * Dh + j + 1) * D);
          for (let d = 0; d < D; d++) r[pos * D + d] += zv * w[d];
        }
      }
      out.set(componentName({ kind: "head", layer: l, head: h }), r);
    }
    out.set(componentName({ kind: "mlp", layer: l }), diff(`blocks.${l}.hook_mlp_out`));
  }
  return out;
}

/** Every edge's score: see the file's comment. */
export async function edges(model: Model, options: EdgeAttributionOptions): Promise<EdgeScores> {
  const { method, steps } = checkMethod(options ?? {}, ["eap", "eap-ig", "relevance"]) as { method: EdgeMethod; steps: number };
  const { nLayers: L, nHeads: H, dModel: D } = model.config;
  const cfg: CircuitCfg = { nLayers: L, nHeads: H, dModel: D };
  const list = circuitEdges(cfg);
  const senders = ["blocks.0.hook_resid_pre", ...Array.from({ length: L }, (_, l) => [`blocks.${l}.attn.hook_z`, `blocks.${l}.hook_mlp_out`]).flat()];
  const readers = list.map((e) => readerOf(model, e.to, e.input));
  const receivers = [...new Set(readers.map((r) => r.hook))];
  const WO = Array.from({ length: L }, (_, l) => model.weight(`blocks.${l}.attn.W_O`).data);
  const raw = new Float64Array(list.length);
  const passes = await attributionPasses(model, { ...options, method: method === "eap" ? "gradient" : method }, senders, receivers, (p) => {
    const diffs = senderDiffs(model, p, WO);
    // An edge's score only depends on its sender and its reader's row: KV heads' rows are shared.
    const memo = new Map<string, number>();
    list.forEach((e, k) => {
      const { hook, row } = readers[k];
      const key = `${e.from}|${hook}|${row}`;
      let v = memo.get(key);
      if (v === undefined) {
        const g = p.gradient(hook);
        const a = diffs.get(e.from)!;
        const rows = g.length / a.length;
        let s = 0;
        for (let pos = 0; pos < a.length / D; pos++) {
          const go = (pos * rows + (row ?? 0)) * D;
          for (let d = 0; d < D; d++) s += a[pos * D + d] * g[go + d];
        }
        v = s;
        memo.set(key, v);
      }
      raw[k] += v;
    });
  });
  const span = passes.cleanValue - passes.corruptValue;
  if (!(Math.abs(span) > 0)) throw new BadArgumentError(`The metric is ${passes.cleanValue} on both the clean and the corrupted input: there is no difference for edges to carry. Choose a corruption that changes the metric.`);
  const n = passes.clean.length;
  const scored = list.map((e, k) => ({ ...e, name: edgeName(e), score: raw[k] / n / span }));
  const name = methodName(method, steps);
  return new EdgeScores(scored, { cfg, method: name, metric: passes.info, title: `Edge attribution, ${name}` });
}
