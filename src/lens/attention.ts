/** Attention patterns of one layer's heads over a text, as the attention view draws them. */
import { BadArgumentError, checkIndex, Tensor, type Model } from "../engine";
import { encodeTensor, headName, VIEW_VALUE_CAP, type AttentionView } from "../protocol";
import { onePrompt } from "./attribution-input";
import type { Prompt } from "./inputs";
import { LensResult } from "./result";
import { fmt, markdownTable } from "./text";

export interface AttentionOptions {
  layer: number;
  /** head indices (default every head of the layer) */
  heads?: readonly number[];
}

export interface AttendedKey {
  pos: number;
  token: string;
  weight: number;
}

export class AttentionPatterns extends LensResult<"attention"> {
  readonly view = "attention" as const;

  constructor(
    readonly layer: number,
    /** the model's head indices, in the order of `patterns` */
    readonly heads: number[],
    readonly tokens: string[],
    /** [heads.length, query_pos, key_pos] */
    private readonly patterns: Float32Array,
  ) {
    super();
  }

  private index(head: number): number {
    const i = this.heads.indexOf(head);
    if (i < 0) throw new BadArgumentError(`Head ${head} is not in this result: it holds heads ${this.heads.join(", ")} of layer ${this.layer}.`);
    return i;
  }

  /** One head's pattern: [query_pos, key_pos] (rows sum to 1). */
  pattern(head: number): Tensor {
    const P = this.tokens.length;
    const i = this.index(head);
    return new Tensor([P, P], this.patterns.slice(i * P * P, (i + 1) * P * P), ["query_pos", "key_pos"]);
  }

  /** For each query position, the `k` keys the head attends to most, most first. */
  topKeys(head: number, k = 3): AttendedKey[][] {
    const P = this.tokens.length;
    const i = this.index(head);
    return Array.from({ length: P }, (_, q) => {
      const rowStart = (i * P + q) * P;
      return Array.from({ length: q + 1 }, (_, key) => ({ pos: key, token: this.tokens[key], weight: this.patterns[rowStart + key] }))
        .sort((a, b) => b.weight - a.weight)
        .slice(0, k);
    });
  }

  payload(): AttentionView {
    const P = this.tokens.length;
    const n = this.heads.length;
    // Keep the last positions whose patterns fit (a pattern is P² values per head).
    const keep = Math.min(P, Math.max(1, Math.floor(Math.sqrt(VIEW_VALUE_CAP / n))));
    const from = P - keep;
    const data = new Float32Array(n * keep * keep);
    for (let h = 0; h < n; h++)
      for (let q = 0; q < keep; q++) data.set(this.patterns.subarray((h * P + from + q) * P + from, (h * P + from + q) * P + P), (h * keep + q) * keep);
    return {
      title: `Attention patterns, layer ${this.layer}`,
      layer: this.layer,
      heads: [...this.heads],
      tokens: this.tokens.slice(from),
      patterns: encodeTensor([n, keep, keep], data),
      ...(keep < P ? { reduced: `only the last ${keep} of ${P} positions (queries and keys), to stay under the view's size limit` } : {}),
    };
  }

  markdown(): string {
    const parts = [`**Attention patterns, layer ${this.layer}**: the key each query attends to most`];
    const tok = (p: number) => `${p} ${JSON.stringify(this.tokens[p])}`;
    const P = this.tokens.length;
    const shown = Math.min(P, 64);
    for (const h of this.heads) {
      const top = this.topKeys(h, 1);
      const rows = top.slice(P - shown).map((keys, i) => [tok(P - shown + i), tok(keys[0].pos), fmt(keys[0].weight)]);
      parts.push("", `${headName(this.layer, h)}${shown < P ? ` (last ${shown} of ${P} queries)` : ""}`, "", markdownTable(["query", "top key", "weight"], rows));
    }
    return parts.join("\n");
  }

  summary(): string {
    return `attention of layer ${this.layer}, heads ${this.heads.join(", ")}, ${this.tokens.length} tokens`;
  }
}

export async function attention(model: Model, text: Prompt, options: AttentionOptions): Promise<AttentionPatterns> {
  const { nLayers, nHeads } = model.config;
  const layer = options?.layer;
  if (!Number.isInteger(layer) || layer < 0 || layer >= nLayers) throw new BadArgumentError(`layer must be an integer from 0 to ${nLayers - 1}, got ${JSON.stringify(layer)}.`);
  const heads = options.heads ? [...options.heads] : Array.from({ length: nHeads }, (_, h) => h);
  if (heads.length === 0) throw new BadArgumentError("heads is empty: name at least one head, or leave it out for all.");
  for (const h of heads) checkIndex("head", h, nHeads, `layer ${layer} has ${nHeads} heads`);
  const prompt = onePrompt(model, text, "attention");
  const name = `blocks.${layer}.attn.hook_pattern`;
  const { cache } = await model.runWithCache(prompt.tokens, { names: [name], logits: "last" });
  const all = cache.get(name);
  const P = prompt.tokens.length;
  const out = new Float32Array(heads.length * P * P);
  heads.forEach((h, i) => out.set(all.data.subarray(h * P * P, (h + 1) * P * P), i * P * P));
  return new AttentionPatterns(layer, heads, model.toStr(prompt.tokens), out);
}
