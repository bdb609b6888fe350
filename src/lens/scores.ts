/**
 * The score results most methods return: a value per head ([layer, head] or [layer, head, pos]), per
 * (layer, position), or per named component. Patching, attribution and head detectors all return
 * these, so the heatmap and click-to-patch work the same for each.
 */
import { BadArgumentError, Tensor } from "../engine";
import {
  encodeTensor,
  headName,
  type ComponentsView,
  type HeadsView,
  type MetricInfo,
  type PositionsView,
  type RerunInfo,
  type RerunMode,
  type RerunTarget,
  type TokenProb,
} from "../protocol";
import { LensResult } from "./result";
import { fmt, markdownTable } from "./text";

/** What a click-to-patch answers (src/protocol/views.ts RerunAnswer without the envelope). */
export interface RerunOutcome {
  metricBefore: number;
  metricAfter: number;
  /** after, on the 0 = corrupted, 1 = clean scale, where the result has one */
  normalizedAfter?: number;
  topBefore: TokenProb[];
  topAfter: TokenProb[];
}

/** How a result re-runs one of its cells with an intervention (kept by the kernel, not serialized). */
export interface Rerunner {
  modes: RerunMode[];
  /** TypeScript reproducing a rerun, with $TARGET and $MODE placeholders */
  code?: string;
  run(target: RerunTarget, mode: RerunMode): Promise<RerunOutcome>;
}

export interface RankedHead {
  layer: number;
  head: number;
  pos?: number;
  name: string;
  value: number;
}

export interface ScoreOptions {
  title: string;
  valueLabel: string;
  metric?: MetricInfo;
  rerunner?: Rerunner;
  /** note when data was reduced */
  reduced?: string;
  /** tokens the sweep decoded, and prefix tokens it shared instead (by-position sweeps) */
  stats?: { decodedTokens: number; sharedPrefixTokens: number };
}

function statsLine(s: ScoreOptions["stats"]): string[] {
  if (!s || !s.sharedPrefixTokens) return [];
  const all = s.decodedTokens + s.sharedPrefixTokens;
  return ["", `Shared prefixes saved ${s.sharedPrefixTokens} of ${all} token evaluations (${((100 * s.sharedPrefixTokens) / all).toFixed(0)}%).`];
}

export type RankBy = "abs" | "max" | "min";

function rankKey(by: RankBy): (v: number) => number {
  return by === "abs" ? (v) => Math.abs(v) : by === "max" ? (v) => v : (v) => -v;
}

abstract class Rerunnable<K extends "heads" | "positions"> extends LensResult<K> {
  constructor(protected readonly rerunner: Rerunner | undefined) {
    super();
  }

  /** Re-runs the result's own specification with the target patched (or zeroed). */
  async rerun(target: RerunTarget, mode: RerunMode = "patch"): Promise<RerunOutcome> {
    if (!this.rerunner) throw new BadArgumentError("This result cannot be re-run: it was not made by a patching sweep.");
    if (!this.rerunner.modes.includes(mode)) throw new BadArgumentError(`mode must be one of ${this.rerunner.modes.join(", ")}, got ${JSON.stringify(mode)}.`);
    return this.rerunner.run(target, mode);
  }

  protected rerunInfo(session: string): RerunInfo | undefined {
    if (!this.rerunner) return undefined;
    return { resultId: this.id, kernelSession: session, modes: this.rerunner.modes, ...(this.rerunner.code ? { code: this.rerunner.code } : {}) };
  }
}

/** Scores per head: values [layer, head] or [layer, head, pos]. */
export class HeadScores extends Rerunnable<"heads"> {
  readonly view = "heads" as const;

  constructor(
    /** dims ["layer", "head"] or ["layer", "head", "pos"] */
    readonly values: Tensor,
    readonly options: ScoreOptions & { tokens?: string[]; session: string },
  ) {
    super(options.rerunner);
    const d = values.dims.join(",");
    if (d !== "layer,head" && d !== "layer,head,pos") throw new BadArgumentError(`HeadScores needs dims [layer, head] or [layer, head, pos], got [${values.dims.join(", ")}].`);
  }

  get(layer: number, head: number, pos?: number): number {
    return pos === undefined ? this.values.get(layer, head) : this.values.get(layer, head, pos);
  }

  /** The k heads (or head-positions) with the largest |value| (or largest / smallest value). */
  top(k = 10, by: RankBy = "abs"): RankedHead[] {
    const [L, H, P] = this.values.shape;
    const key = rankKey(by);
    const out: RankedHead[] = [];
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++) {
        if (P === undefined) out.push({ layer: l, head: h, name: headName(l, h), value: this.values.get(l, h) });
        else for (let p = 0; p < P; p++) out.push({ layer: l, head: h, pos: p, name: headName(l, h), value: this.values.get(l, h, p) });
      }
    return out.filter((r) => Number.isFinite(r.value)).sort((a, b) => key(b.value) - key(a.value)).slice(0, k);
  }

  payload(): HeadsView {
    const o = this.options;
    const rerun = this.rerunInfo(o.session);
    return {
      title: o.title,
      axes: this.values.dims.length === 3 ? ["layer", "head", "pos"] : ["layer", "head"],
      values: encodeTensor(this.values.shape, this.values.data),
      ...(o.tokens ? { tokens: o.tokens } : {}),
      valueLabel: o.valueLabel,
      ...(o.metric ? { metric: o.metric } : {}),
      ...(rerun ? { rerun } : {}),
      ...(o.reduced ? { reduced: o.reduced } : {}),
    };
  }

  markdown(): string {
    const [L, H, P] = this.values.shape;
    const lines = [`**${this.options.title}** (${this.options.valueLabel}${this.options.metric ? `; metric ${this.options.metric.name}` : ""})`, ""];
    if (P === undefined) {
      const rows = Array.from({ length: L }, (_, l) => [String(l), ...Array.from({ length: H }, (_, h) => fmt(this.values.get(l, h)))]);
      lines.push(markdownTable(["layer \\ head", ...Array.from({ length: H }, (_, h) => String(h))], rows.slice(0, 64)));
      if (L > 64) lines.push("", `(first 64 of ${L} layers)`);
    }
    const top = this.top(10);
    lines.push("", "Top: " + top.map((r) => `${r.name}${r.pos !== undefined ? `@${r.pos}` : ""} ${fmt(r.value)}`).join(", "), ...statsLine(this.options.stats));
    return lines.join("\n");
  }

  summary(): string {
    const [L, H, P] = this.values.shape;
    const t = this.top(1)[0];
    return `head heatmap ${L}x${H}${P !== undefined ? `x${P}` : ""}${t ? `, top ${t.name}${t.pos !== undefined ? `@${t.pos}` : ""} ${fmt(t.value)}` : ""}`;
  }
}

export interface RankedCell {
  layer: number;
  pos: number;
  token: string;
  value: number;
}

/** Scores per (layer, position) of one activation, e.g. residual-stream patching. */
export class PositionScores extends Rerunnable<"positions"> {
  readonly view = "positions" as const;

  constructor(
    /** dims ["layer", "pos"] */
    readonly values: Tensor,
    readonly options: ScoreOptions & { tokens: string[]; component: string; session: string },
  ) {
    super(options.rerunner);
    if (values.dims.join(",") !== "layer,pos") throw new BadArgumentError(`PositionScores needs dims [layer, pos], got [${values.dims.join(", ")}].`);
  }

  get(layer: number, pos: number): number {
    return this.values.get(layer, pos);
  }

  top(k = 10, by: RankBy = "abs"): RankedCell[] {
    const [L, P] = this.values.shape;
    const key = rankKey(by);
    const out: RankedCell[] = [];
    for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) out.push({ layer: l, pos: p, token: this.options.tokens[p], value: this.values.get(l, p) });
    return out.filter((r) => Number.isFinite(r.value)).sort((a, b) => key(b.value) - key(a.value)).slice(0, k);
  }

  payload(): PositionsView {
    const o = this.options;
    const rerun = this.rerunInfo(o.session);
    return {
      title: o.title,
      axes: ["layer", "pos"],
      values: encodeTensor(this.values.shape, this.values.data),
      tokens: o.tokens,
      component: o.component,
      valueLabel: o.valueLabel,
      ...(o.metric ? { metric: o.metric } : {}),
      ...(rerun ? { rerun } : {}),
      ...(o.reduced ? { reduced: o.reduced } : {}),
    };
  }

  markdown(): string {
    const [L, P] = this.values.shape;
    const head = ["layer", ...this.options.tokens.map((t, p) => `${p} ${JSON.stringify(t)}`)];
    const rows = Array.from({ length: Math.min(L, 64) }, (_, l) => [String(l), ...Array.from({ length: P }, (_, p) => fmt(this.values.get(l, p)))]);
    return [`**${this.options.title}** (${this.options.component}; ${this.options.valueLabel})`, "", markdownTable(head, rows), ...statsLine(this.options.stats)].join("\n");
  }

  summary(): string {
    const [L, P] = this.values.shape;
    const t = this.top(1)[0];
    return `${this.options.component} heatmap ${L}x${P}${t ? `, top layer ${t.layer} pos ${t.pos} ${JSON.stringify(t.token)} ${fmt(t.value)}` : ""}`;
  }
}

/** One score per named component (embed, a0.h1, m0, ...). */
export class ComponentScores extends LensResult<"components"> {
  readonly view = "components" as const;

  constructor(
    readonly labels: string[],
    readonly values: Float32Array | number[],
    readonly options: { title: string; valueLabel: string; reduced?: string },
  ) {
    super();
    if (labels.length !== values.length) throw new BadArgumentError(`ComponentScores: ${labels.length} labels for ${values.length} values.`);
  }

  get(label: string): number {
    const i = this.labels.indexOf(label);
    if (i < 0) throw new BadArgumentError(`No component "${label}"; components: ${this.labels.slice(0, 12).join(", ")}${this.labels.length > 12 ? ", ..." : ""}.`);
    return this.values[i];
  }

  top(k = 10, by: RankBy = "abs"): { label: string; value: number }[] {
    const key = rankKey(by);
    return this.labels.map((label, i) => ({ label, value: this.values[i] })).sort((a, b) => key(b.value) - key(a.value)).slice(0, k);
  }

  payload(): ComponentsView {
    return { title: this.options.title, labels: [...this.labels], values: Array.from(this.values), valueLabel: this.options.valueLabel, ...(this.options.reduced ? { reduced: this.options.reduced } : {}) };
  }

  markdown(): string {
    const rows = this.labels.map((l, i) => [l, fmt(this.values[i])]);
    return [`**${this.options.title}**`, "", markdownTable(["component", this.options.valueLabel], rows.slice(0, 200))].join("\n");
  }

  summary(): string {
    const t = this.top(1)[0];
    return `${this.labels.length} components${t ? `, top ${t.label} ${fmt(t.value)}` : ""}`;
  }
}
