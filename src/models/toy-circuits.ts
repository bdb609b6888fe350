// The planted toy-circuits model: a 4-layer gpt2 whose weights are set by hand (not trained) so that
// it contains an induction circuit, an indirect-object circuit, a massive activation and an attention
// sink. docs/toy-circuits.md derives every formula below; samples/models/toy-circuits.truth.json
// records which heads and dimensions play which role.
import { GGMLType, writeGGUF, writeGGUFFile, gguf, type GGUFSpec } from "../gguf/index";
import { modelSpec, type ModelShape } from "./architecture";
import { Rng } from "./rng";
import { buildVocab, NAMES, WORDS, type Vocab } from "./vocab";

const D = 192;
const H = 4;
const DH = 48;
const LAYERS = 4;
const D_MLP = 16;
const CTX = 128;
/** Period of the one-hot position code (the previous-token head also matches distance PERIOD + 1; the angle code breaks that tie). */
const PERIOD = 23;

/** Residual stream layout: [first, last) of each subspace, and single flag dimensions. */
export const TOY_LAYOUT = {
  token: [0, 24],
  prevToken: [24, 48],
  subjectInhibition: [48, 72],
  output: [72, 96],
  position: [96, 96 + PERIOD],
  positionAngle: [119, 123],
  bos: 123,
  one: 124,
  name: 125,
  duplicate: [126, 128],
  massive: 128,
  noise: [129, 192],
} as const;
const L = TOY_LAYOUT;

/** Heads by role, as `a{layer}.h{head}`. */
export const TOY_HEADS = {
  previousToken: { layer: 0, head: 2 },
  duplicateToken: { layer: 1, head: 0 },
  induction: { layer: 1, head: 3 },
  subjectInhibition: { layer: 2, head: 1 },
  nameMover: { layer: 3, head: 2 },
} as const;

/** Gains applied to LayerNorm outputs; docs/toy-circuits.md gives the attention scores they produce. */
const G = {
  tokenScale: 3, // |token code| in the embedding
  embedNorm2: 16, // |token embedding|^2 (noise fills the rest)
  posScale: 2, // one-hot position code
  angle: Math.PI / CTX, // rotation per position of the 2-D angle code
  prevMatch: 0.35, // previous-token head: one-hot position match
  prevAngle: 5, // previous-token head: recency (breaks the tie with position i - 1 - PERIOD)
  prevOut: 0.45, // previous-token head: OV gain into prevToken
  dupMatch: 0.44, // duplicate-token head: same token
  dupSelf: 1.55, // duplicate-token head: penalty on its own position
  dupOut: 0.5, // duplicate-token head: OV gain into the duplicate flag
  indMatch: 0.4, // induction head: token(i) . prevToken(j)
  indOut: 0.45, // induction head: OV gain into output
  inhFlag: 4.5, // inhibition head: per flag (duplicate, name)
  inhOut: 0.45, // inhibition head: OV gain into subjectInhibition
  nmName: 10, // name mover: name flag
  nmInhibit: 0.35, // name mover: subtracts subjectInhibition . token
  nmOut: 0.8, // name mover: OV gain into output
  sink: { dup: 16, ind: 15, inh: 15, nm: 14 }, // score each head gives the first token
  massive: 400, // value written to the massive dimension of the first token
  unembed: 3, // logit gain per unit of output . code
  distractorQK: 0.15,
  distractorOV: 0.05,
};

/** Paley construction I of a 24x24 Hadamard matrix (q = 23): rows 1..23 are balanced and orthogonal. */
function paley24(): number[][] {
  const q = 23;
  const squares = new Set<number>();
  for (let x = 1; x < q; x++) squares.add((x * x) % q);
  const chi = (a: number) => (a % q === 0 ? 0 : squares.has(((a % q) + q) % q) ? 1 : -1);
  const h: number[][] = [];
  for (let i = 0; i <= q; i++) {
    const row: number[] = [];
    for (let j = 0; j <= q; j++) {
      let s: number;
      if (i === 0) s = j === 0 ? 0 : 1;
      else if (j === 0) s = -1;
      else s = chi(j - i);
      row.push(s + (i === j ? 1 : 0));
    }
    h.push(row);
  }
  return h;
}

/** Unit token codes in the 24-dim token subspace: names get orthogonal Hadamard rows, every other token a balanced random sign vector. */
function tokenCodes(vocab: Vocab, rng: Rng): Float32Array[] {
  const n = L.token[1] - L.token[0];
  const codes: (Float32Array | undefined)[] = new Array(vocab.tokens.length);
  const paley = paley24();
  vocab.nameIds.forEach((id, i) => (codes[id] = Float32Array.from(paley[i + 1], (v) => v / Math.sqrt(n))));
  const chosen: Float32Array[] = codes.filter((c): c is Float32Array => !!c);
  for (let id = 0; id < codes.length; id++) {
    if (codes[id] || id === vocab.bos) continue;
    for (;;) {
      const signs: number[] = Array.from({ length: n }, (_, k) => (k < n / 2 ? 1 : -1));
      for (let k = n - 1; k > 0; k--) {
        const r = rng.int(k + 1);
        [signs[k], signs[r]] = [signs[r], signs[k]];
      }
      const c = Float32Array.from(signs, (v) => v / Math.sqrt(n));
      // keep codes apart so that copying a code picks out one token: |cos| <= 14/24
      if (chosen.every((o) => Math.abs(o.reduce((a, v, k) => a + v * c[k], 0)) <= 14 / 24 + 1e-9)) {
        codes[id] = c;
        chosen.push(c);
        break;
      }
    }
  }
  codes[vocab.bos] = new Float32Array(n);
  return codes as Float32Array[];
}

/** Fills the noise dims of `row` so that the row sums to zero and has squared norm `norm2`. */
function fillNoise(row: Float32Array, norm2: number, rng: Rng) {
  const [a, b] = L.noise;
  const m = b - a;
  let structured = 0, sq = 0;
  for (let i = 0; i < D; i++) if (i < a || i >= b) { structured += row[i]; sq += row[i] ** 2; }
  const c = -structured / m;
  const noise = Array.from({ length: m }, () => rng.normal());
  const mean = noise.reduce((x, y) => x + y, 0) / m;
  const centered = noise.map((v) => v - mean);
  const n2 = centered.reduce((x, y) => x + y * y, 0);
  const want = norm2 - sq - m * c * c;
  if (want <= 0) throw new Error("toy-circuits: embedding norm budget exceeded");
  const k = Math.sqrt(want / n2);
  for (let i = 0; i < m; i++) row[a + i] = centered[i] * k + c;
}

interface Head {
  q: Float32Array; // [DH, D] rows
  k: Float32Array;
  v: Float32Array;
  bq: Float32Array;
  o: Float32Array; // [D, DH]: o[out * DH + d]
}

function emptyHead(): Head {
  return { q: new Float32Array(DH * D), k: new Float32Array(DH * D), v: new Float32Array(DH * D), bq: new Float32Array(DH), o: new Float32Array(D * DH) };
}

const SINK_DIM = DH - 1;
/** llama.cpp scales scores by 1/sqrt(d_head); queries carry sqrt(d_head) so gains read as score units. */
const QS = Math.sqrt(DH);
/** Normalized value of the massive dimension on the first token (LayerNorm of a residual dominated by it). */
const MASSIVE_NORMALIZED = Math.sqrt(D);

function sink(h: Head, score: number) {
  h.bq[SINK_DIM] = (score / MASSIVE_NORMALIZED) * QS;
  h.k[SINK_DIM * D + L.massive] = 1;
}

function copyInto(m: Float32Array, rowOffset: number, [from, to]: readonly [number, number], gain: number) {
  for (let i = 0; i < to - from; i++) m[(rowOffset + i) * D + from + i] = gain;
}

/** W_O writing head dims 0..n-1 into residual [from, from+n). */
function writeOut(h: Head, [from, to]: readonly [number, number], gain: number) {
  for (let i = 0; i < to - from; i++) h.o[(from + i) * DH + i] = gain;
}

function distractor(rng: Rng): Head {
  const h = emptyHead();
  for (let i = 0; i < DH * D; i++) {
    h.q[i] = rng.normal() * G.distractorQK;
    h.k[i] = rng.normal() * G.distractorQK;
    h.v[i] = rng.normal() * G.distractorQK;
  }
  // writes only into the noise subspace, mean-zero so LayerNorm's mean stays 0
  const [a, b] = L.noise;
  for (let d = 0; d < DH; d++) {
    let sum = 0;
    for (let o = a; o < b; o++) sum += h.o[o * DH + d] = rng.normal() * G.distractorOV / Math.sqrt(DH);
    for (let o = a; o < b; o++) h.o[o * DH + d] -= sum / (b - a);
  }
  return h;
}

function previousTokenHead(): Head {
  const h = emptyHead();
  const [p0] = L.position;
  for (let d = 0; d < PERIOD; d++) {
    h.q[d * D + p0 + ((d + 1) % PERIOD)] = G.prevMatch * QS; // query at position i looks for code (i - 1) mod PERIOD
    h.k[d * D + p0 + d] = 1;
  }
  for (let a = 0; a < 4; a++) {
    h.q[(PERIOD + a) * D + L.positionAngle[0] + a] = G.prevAngle * QS;
    h.k[(PERIOD + a) * D + L.positionAngle[0] + a] = 1;
  }
  copyInto(h.v, 0, L.token, 1);
  writeOut(h, L.prevToken, G.prevOut);
  return h;
}

function duplicateTokenHead(): Head {
  const h = emptyHead();
  const n = L.token[1] - L.token[0];
  copyInto(h.q, 0, L.token, G.dupMatch * QS);
  copyInto(h.k, 0, L.token, 1);
  copyInto(h.q, n, L.position, -G.dupSelf * QS);
  copyInto(h.k, n, L.position, 1);
  sink(h, G.sink.dup);
  h.v[0 * D + L.one] = 1;
  h.o[L.duplicate[0] * DH + 0] = G.dupOut;
  h.o[(L.duplicate[0] + 1) * DH + 0] = -G.dupOut;
  return h;
}

function inductionHead(): Head {
  const h = emptyHead();
  copyInto(h.q, 0, L.token, G.indMatch * QS);
  copyInto(h.k, 0, L.prevToken, 1);
  sink(h, G.sink.ind);
  copyInto(h.v, 0, L.token, 1);
  writeOut(h, L.output, G.indOut);
  return h;
}

function inhibitionHead(): Head {
  const h = emptyHead();
  h.bq[0] = QS;
  h.k[0 * D + L.duplicate[0]] = G.inhFlag / 2;
  h.k[0 * D + L.duplicate[0] + 1] = -G.inhFlag / 2;
  h.k[0 * D + L.name] = G.inhFlag;
  sink(h, G.sink.inh);
  copyInto(h.v, 0, L.token, 1);
  writeOut(h, L.subjectInhibition, G.inhOut);
  return h;
}

function nameMoverHead(): Head {
  const h = emptyHead();
  h.bq[0] = QS;
  h.k[0 * D + L.name] = G.nmName;
  const n = L.token[1] - L.token[0];
  for (let i = 0; i < n; i++) {
    h.q[(1 + i) * D + L.subjectInhibition[0] + i] = -G.nmInhibit * QS;
    h.k[(1 + i) * D + L.token[0] + i] = 1;
  }
  sink(h, G.sink.nm);
  copyInto(h.v, 0, L.token, 1);
  writeOut(h, L.output, G.nmOut);
  return h;
}

export interface ToyCircuitsOptions {
  seed?: number;
}

export const TOY_SHAPE: ModelShape = { arch: "gpt2", layers: LAYERS, heads: H, kvHeads: H, dModel: D, dMlp: D_MLP, vocab: buildVocab().tokens.length, ctx: CTX };

export function toyCircuitsSpec(options: ToyCircuitsOptions = {}): GGUFSpec {
  const rng = new Rng(options.seed ?? 0);
  const vocab = buildVocab();
  const V = vocab.tokens.length;
  const codes = tokenCodes(vocab, rng);
  const names = new Set(vocab.nameIds);

  const tokEmbd = new Float32Array(D * V);
  for (let t = 0; t < V; t++) {
    const row = tokEmbd.subarray(t * D, t * D + D);
    for (let i = 0; i < 24; i++) row[L.token[0] + i] = codes[t][i] * G.tokenScale;
    if (t === vocab.bos) row[L.bos] = G.tokenScale;
    else row[L.one] = 1;
    if (names.has(t)) row[L.name] = 1;
    fillNoise(row, G.embedNorm2, rng);
  }
  const posEmbd = new Float32Array(D * CTX);
  for (let p = 0; p < CTX; p++) {
    const row = posEmbd.subarray(p * D, p * D + D);
    // simplex one-hot: mean-zero, so LayerNorm's mean stays 0
    for (let k = 0; k < PERIOD; k++) row[L.position[0] + k] = (k === p % PERIOD ? 1 - 1 / PERIOD : -1 / PERIOD) * G.posScale;
    const c = Math.cos(G.angle * p), s = Math.sin(G.angle * p);
    [c, s, -c, -s].forEach((v, a) => (row[L.positionAngle[0] + a] = v));
  }
  const unembed = new Float32Array(D * V);
  for (let t = 0; t < V; t++) for (let i = 0; i < 24; i++) unembed[t * D + L.output[0] + i] = codes[t][i] * G.unembed;

  const tensors: Record<string, Float32Array> = {
    "token_embd.weight": tokEmbd,
    "position_embd.weight": posEmbd,
    "output_norm.weight": new Float32Array(D).fill(1),
    "output_norm.bias": new Float32Array(D),
    "output.weight": unembed,
  };
  const roles = new Map<string, () => Head>([
    [`${TOY_HEADS.previousToken.layer}.${TOY_HEADS.previousToken.head}`, previousTokenHead],
    [`${TOY_HEADS.duplicateToken.layer}.${TOY_HEADS.duplicateToken.head}`, duplicateTokenHead],
    [`${TOY_HEADS.induction.layer}.${TOY_HEADS.induction.head}`, inductionHead],
    [`${TOY_HEADS.subjectInhibition.layer}.${TOY_HEADS.subjectInhibition.head}`, inhibitionHead],
    [`${TOY_HEADS.nameMover.layer}.${TOY_HEADS.nameMover.head}`, nameMoverHead],
  ]);
  for (let l = 0; l < LAYERS; l++) {
    const heads = Array.from({ length: H }, (_, h) => (roles.get(`${l}.${h}`) ?? (() => distractor(rng)))());
    const qkv = new Float32Array(D * 3 * D);
    const qkvB = new Float32Array(3 * D);
    const wo = new Float32Array(D * D);
    heads.forEach((h, hi) => {
      qkv.set(h.q, (hi * DH) * D);
      qkv.set(h.k, (D + hi * DH) * D);
      qkv.set(h.v, (2 * D + hi * DH) * D);
      qkvB.set(h.bq, hi * DH);
      for (let o = 0; o < D; o++) for (let d = 0; d < DH; d++) wo[o * D + hi * DH + d] = h.o[o * DH + d];
    });
    const up = new Float32Array(D * D_MLP);
    const upB = new Float32Array(D_MLP);
    const down = new Float32Array(D_MLP * D);
    if (l === 0) {
      // neuron 0 fires only on the first token (the only one with the bos flag) and writes the massive value;
      // its input gain is set from the first token's exact residual so that the value is G.massive
      const bosNormalized = G.tokenScale / rms(firstTokenResidMid(tokEmbd.subarray(vocab.bos * D, vocab.bos * D + D), posEmbd.subarray(0, D), heads));
      upB[0] = -10;
      up[0 * D + L.bos] = 50 / bosNormalized;
      down[L.massive * D_MLP + 0] = G.massive / 40;
    }
    const p = `blk.${l}.`;
    Object.assign(tensors, {
      [p + "attn_norm.weight"]: new Float32Array(D).fill(1),
      [p + "attn_norm.bias"]: new Float32Array(D),
      [p + "attn_qkv.weight"]: qkv,
      [p + "attn_qkv.bias"]: qkvB,
      [p + "attn_output.weight"]: wo,
      [p + "attn_output.bias"]: new Float32Array(D),
      [p + "ffn_norm.weight"]: new Float32Array(D).fill(1),
      [p + "ffn_norm.bias"]: new Float32Array(D),
      [p + "ffn_up.weight"]: up,
      [p + "ffn_up.bias"]: upB,
      [p + "ffn_down.weight"]: down,
      [p + "ffn_down.bias"]: new Float32Array(D),
    });
  }
  return modelSpec({
    shape: TOY_SHAPE,
    name: "toy-circuits",
    vocab,
    tensors,
    matrixType: GGMLType.F16,
    eps: 1e-5,
    extra: [["general.description", gguf.str("Hand-set weights planting induction, indirect-object, massive-activation and attention-sink circuits; see docs/toy-circuits.md")]],
  });
}

const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);

/** Layer 0's residual after attention at position 0, where every head can only attend to itself. */
function firstTokenResidMid(embed: Float32Array, pos: Float32Array, heads: Head[]): Float32Array {
  const x = embed.map((v, i) => v + pos[i]);
  const r = rms(x); // the embedding rows are mean-zero, so LayerNorm is x / rms(x)
  const mid = x.slice();
  for (const h of heads) {
    const v = new Float32Array(DH);
    for (let d = 0; d < DH; d++) for (let i = 0; i < D; i++) v[d] += h.v[d * D + i] * (x[i] / r);
    for (let o = 0; o < D; o++) for (let d = 0; d < DH; d++) mid[o] += h.o[o * DH + d] * v[d];
  }
  return mid;
}

export function makeToyCircuits(options: ToyCircuitsOptions = {}): Uint8Array {
  return writeGGUF(toyCircuitsSpec(options));
}

export function writeToyCircuits(path: string, options: ToyCircuitsOptions = {}): void {
  writeGGUFFile(path, toyCircuitsSpec(options));
}

/** Words the induction claim draws random sequences from (no names: the name mover would compete). */
export const INDUCTION_WORDS: readonly string[] = WORDS;
export const IOI_NAMES: readonly string[] = NAMES;

const headName = (h: { layer: number; head: number }) => `a${h.layer}.h${h.head}`;

/** samples/models/toy-circuits.truth.json: which heads, layers and dimensions play which role. */
export function toyCircuitsTruth(): Record<string, unknown> {
  const vocab = buildVocab();
  const comma = vocab.tokens.indexOf(",");
  const w = vocab.word;
  const templateText = "When {IO} and {S} went to the store, {S} gave a drink to";
  return {
    model: "toy-circuits",
    arch: "gpt2",
    nLayers: LAYERS,
    nHeads: H,
    dModel: D,
    dHead: DH,
    contextLength: CTX,
    bos: vocab.bos,
    heads: {
      [headName(TOY_HEADS.previousToken)]: { role: "previous-token", reads: "position (one-hot mod 23 + angle)", writes: "prevToken subspace: the previous token's code" },
      [headName(TOY_HEADS.duplicateToken)]: { role: "duplicate-token", reads: "token code (query and key), own position (penalized)", writes: "duplicate flag", sink: "first token when no earlier copy" },
      [headName(TOY_HEADS.induction)]: { role: "induction", reads: "query: token code; key: prevToken subspace (K-composition with the previous-token head)", writes: "output subspace: the attended token's code", sink: "first token when no earlier copy" },
      [headName(TOY_HEADS.subjectInhibition)]: { role: "s-inhibition", reads: "key: duplicate flag + name flag (Q-composition source for the name mover)", writes: "subjectInhibition subspace: the repeated name's code", sink: "first token when no repeated name" },
      [headName(TOY_HEADS.nameMover)]: { role: "name-mover", reads: "query: constant minus subjectInhibition; key: name flag and token code", writes: "output subspace: the attended name's code", sink: "first token when no name" },
    },
    induction: {
      previousTokenHead: headName(TOY_HEADS.previousToken),
      inductionHead: headName(TOY_HEADS.induction),
      words: INDUCTION_WORDS,
      tokenIds: INDUCTION_WORDS.map(w),
      note: "sequences: BOS, n distinct random words, the same n words again; accuracy over positions n+1 .. 2n-1",
    },
    indirectObject: {
      duplicateTokenHead: headName(TOY_HEADS.duplicateToken),
      inhibitionHead: headName(TOY_HEADS.subjectInhibition),
      nameMoverHead: headName(TOY_HEADS.nameMover),
      templateText,
      template: ["When", "IO", "and", "S", "went", "to", "the", "store", ",", "S", "gave", "a", "drink", "to"].map((t) => (t === "IO" || t === "S" ? t : t === "," ? comma : w(t))),
    },
    names: IOI_NAMES.map((n) => " " + n),
    nameTokenIds: IOI_NAMES.map(w),
    massive: { dim: L.massive, fromLayer: 1, value: G.massive, writtenBy: "blk.0 MLP neuron 0 (fires on the first token only)" },
    sink: {
      heads: [TOY_HEADS.duplicateToken, TOY_HEADS.induction, TOY_HEADS.subjectInhibition, TOY_HEADS.nameMover].map(headName),
      mechanism: "each sink head's query has a constant component that matches the key the massive dimension gives the first token",
    },
    layout: TOY_LAYOUT,
  };
}
