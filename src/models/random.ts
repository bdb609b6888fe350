// Models with random weights of any shape, for tests and benchmarks: deterministic per seed.
import { GGMLType, writeGGUF, writeGGUFFile, type GGUFSpec } from "../gguf/index";
import { modelSpec, tensorShapes, type Arch, type ModelShape } from "./architecture";
import { Rng } from "./rng";
import { buildVocab, MIN_VOCAB } from "./vocab";

export interface RandomModelOptions {
  arch: Arch;
  layers: number;
  heads: number;
  /** Defaults to heads (no grouped-query attention). */
  kvHeads?: number;
  dModel: number;
  dMlp: number;
  /** At least MIN_VOCAB; extra ids are "<unused_N>" tokens. Defaults to MIN_VOCAB. */
  vocab?: number;
  ctx?: number;
  seed?: number;
  /** Type of the 2-D weight matrices (default F32). */
  f16?: boolean;
}

export function randomModelShape(o: RandomModelOptions): ModelShape {
  return {
    arch: o.arch, layers: o.layers, heads: o.heads, kvHeads: o.kvHeads ?? o.heads,
    dModel: o.dModel, dMlp: o.dMlp, vocab: o.vocab ?? MIN_VOCAB, ctx: o.ctx ?? 512,
  };
}

export function randomModelSpec(o: RandomModelOptions): GGUFSpec {
  const shape = randomModelShape(o);
  const vocab = buildVocab(shape.vocab);
  const seed = o.seed ?? 0;
  const tensors: Record<string, () => Float32Array> = {};
  // each tensor gets its own stream (seed, index) so tensors can be generated lazily in any order
  tensorShapes(shape).forEach(({ name, dims }, i) => {
    const n = dims.reduce((a, b) => a * b, 1);
    tensors[name] = () => {
      if (/norm\.weight$/.test(name)) return new Float32Array(n).fill(1);
      const rng = new Rng(seed * 1000003 + i);
      const std = name.endsWith(".bias") ? 0.01 : name === "position_embd.weight" ? 0.01 : 0.02;
      return rng.uniformArray(n, std);
    };
  });
  return modelSpec({
    shape, vocab, tensors,
    name: `random-${o.arch}-${shape.layers}L-${shape.dModel}d-seed${seed}`,
    matrixType: o.f16 ? GGMLType.F16 : GGMLType.F32,
    eps: 1e-5,
    ropeBase: o.arch === "qwen2" ? 1000000 : 10000,
  });
}

/** The GGUF file as bytes. */
export function makeRandomModel(o: RandomModelOptions): Uint8Array {
  return writeGGUF(randomModelSpec(o));
}

/** Writes the GGUF file tensor by tensor (a GPT-2-small shape never holds all weights at once). */
export function writeRandomModel(path: string, o: RandomModelOptions): void {
  writeGGUFFile(path, randomModelSpec(o));
}
