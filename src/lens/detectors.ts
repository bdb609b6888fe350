/**
 * Head detectors, as TransformerLens's detect_head with error_measure "mul": for each head, the
 * attention it puts on a detection pattern (previous token; an earlier copy of the current token; the
 * token after such a copy) divided by all its attention, averaged over prompts. Duplicate-token and
 * induction heads show on a random token sequence repeated twice, so that is the default input.
 */
import { BadArgumentError, seededRandom, Tensor, type Model } from "../engine";
import { metaValue, readGGUFHeader } from "../gguf";
import { tokenizePrompts, type Prompts } from "./inputs";
import { KERNEL_SESSION } from "./result";
import { HeadScores } from "./scores";

export type DetectorKind = "previous-token" | "duplicate-token" | "induction";
const KINDS: readonly DetectorKind[] = ["previous-token", "duplicate-token", "induction"];

export interface RepeatedTokensOptions {
  /** tokens in each half (default 20) */
  seqLen?: number;
  /** how many sequences (default 8) */
  count?: number;
  /** seed of the random draw (default 1): the same seed gives the same sequences */
  seed?: number;
  /** token ids to draw from (default: the vocabulary's normal tokens, no control, unknown or byte tokens) */
  pool?: readonly number[];
}

export interface DetectOptions extends RepeatedTokensOptions {
  kind: DetectorKind;
  /** the inputs (default: random tokens repeated twice, see randomRepeatedTokens) */
  prompts?: Prompts;
  /** drop the attention to the first token before scoring (TransformerLens exclude_bos, default false) */
  excludeBos?: boolean;
  /** drop each query's attention to itself before scoring (exclude_current_token, default false) */
  excludeCurrentToken?: boolean;
}

const WHAT: Record<DetectorKind, string> = {
  "previous-token": "attention to the previous token",
  "duplicate-token": "attention to earlier copies of the current token",
  induction: "attention to the token after an earlier copy of the current token",
};

/** 1 where query q looks at key k in a `kind` head, for these tokens: [query, key] row-major. */
export function detectionPattern(kind: DetectorKind, tokens: readonly number[]): Float32Array {
  const n = tokens.length;
  const out = new Float32Array(n * n);
  for (let q = 0; q < n; q++)
    for (let k = 0; k < q; k++) {
      if (kind === "previous-token") out[q * n + k] = k === q - 1 ? 1 : 0;
      else if (kind === "duplicate-token") out[q * n + k] = tokens[k] === tokens[q] ? 1 : 0;
      // TransformerLens shifts the duplicate pattern one key to the right (so k may equal q).
      else if (tokens[k] === tokens[q]) out[q * n + k + 1] = 1;
    }
  return out;
}


/** The vocabulary's normal tokens (GGUF token type 1), or every id but BOS/EOS when the file has no types. */
function normalTokens(model: Model): number[] {
  const file = readGGUFHeader(model.provenance.path);
  const types = metaValue(file, "tokenizer.ggml.token_type");
  const V = model.config.nVocab;
  if (Array.isArray(types) && types.length === V) return types.flatMap((t, id) => (Number(t) === 1 ? [id] : []));
  const special = new Set([metaValue(file, "tokenizer.ggml.bos_token_id"), metaValue(file, "tokenizer.ggml.eos_token_id")].map(Number));
  return Array.from({ length: V }, (_, id) => id).filter((id) => !special.has(id));
}

/**
 * `count` sequences of `seqLen` distinct random tokens, each followed by itself again, after the
 * model's BOS when it uses one: the input induction and duplicate-token heads show on.
 */
export function randomRepeatedTokens(model: Model, options: RepeatedTokensOptions = {}): number[][] {
  const { seqLen = 20, count = 8, seed = 1 } = options;
  for (const [what, v] of [["seqLen", seqLen], ["count", count]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new BadArgumentError(`${what} must be a positive integer, got ${v}.`);
  }
  const prefix = model.tokenize("");
  const total = prefix.length + 2 * seqLen;
  // Past the trained context the heads are not what they were trained to be (and learned positions end there).
  const ctx = Math.min(model.config.nCtx, model.config.nCtxTrain || model.config.nCtx);
  if (total > ctx) throw new BadArgumentError(`seqLen ${seqLen} makes sequences of ${total} tokens, more than this model's context (${ctx}); use seqLen <= ${Math.floor((ctx - prefix.length) / 2)}.`);
  const pool = options.pool ? [...options.pool] : normalTokens(model);
  const V = model.config.nVocab;
  for (const t of pool) if (!Number.isInteger(t) || t < 0 || t >= V) throw new BadArgumentError(`pool has token id ${t}, out of range for the vocabulary of ${V} tokens.`);
  if (new Set(pool).size < seqLen) throw new BadArgumentError(`The pool has ${new Set(pool).size} distinct tokens, fewer than seqLen ${seqLen}: sequences draw distinct tokens. Use a smaller seqLen or a larger pool.`);
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const left = [...new Set(pool)];
    const half: number[] = [];
    for (let i = 0; i < seqLen; i++) half.push(left.splice(Math.floor(rand() * left.length), 1)[0]);
    return [...prefix, ...half, ...half];
  });
}

/**
 * A [layer, head] score for every head: the share of its attention on the `kind` pattern, averaged
 * over the prompts (TransformerLens detect_head, "mul"). 1 means all of every query's attention.
 */
export async function detect(model: Model, options: DetectOptions): Promise<HeadScores> {
  const kind = options?.kind;
  if (!KINDS.includes(kind)) throw new BadArgumentError(`kind must be one of ${KINDS.map((k) => JSON.stringify(k)).join(", ")}, got ${JSON.stringify(kind)}.`);
  const prompts = options.prompts === undefined ? randomRepeatedTokens(model, options) : tokenizePrompts(model, options.prompts, "prompts").map((p) => p.tokens);
  const { nLayers: L, nHeads: H } = model.config;
  const names = Array.from({ length: L }, (_, l) => `blocks.${l}.attn.hook_pattern`);
  const runs = await model.runBatch(prompts.map((input) => ({ input, names, logits: "last" as const })));
  const scores = new Float32Array(L * H);
  runs.forEach(({ cache }, i) => {
    const n = prompts[i].length;
    const want = detectionPattern(kind, prompts[i]);
    for (let l = 0; l < L; l++) {
      const a = cache.get(names[l]).data;
      for (let h = 0; h < H; h++) {
        let hit = 0;
        let all = 0;
        for (let q = 0; q < n; q++)
          for (let k = 0; k <= q; k++) {
            if ((options.excludeBos && k === 0) || (options.excludeCurrentToken && k === q)) continue;
            const w = a[(h * n + q) * n + k];
            all += w;
            hit += w * want[q * n + k];
          }
        scores[l * H + h] += (all > 0 ? hit / all : 0) / prompts.length;
      }
    }
  });
  const source = options.prompts === undefined ? `${prompts.length} random sequences of ${(prompts[0].length - model.tokenize("").length) / 2} tokens repeated twice` : `${prompts.length} prompt${prompts.length > 1 ? "s" : ""}`;
  return new HeadScores(new Tensor([L, H], scores, ["layer", "head"]), {
    title: `${kind} heads`,
    valueLabel: `${kind} score: ${WHAT[kind]} / all attention, mean over ${source}`,
    session: KERNEL_SESSION,
  });
}
