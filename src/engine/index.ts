// The engine: GGUF models in llama.cpp with TransformerLens-named hooks on every activation.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { Model, type LoadOptions } from "./model";

/** Loads a GGUF model (`path` relative to `baseDir`, default the current directory). */
export async function load(path: string, options: LoadOptions & { baseDir?: string } = {}): Promise<Model> {
  const { baseDir, ...rest } = options;
  return Model.load(resolve(baseDir ?? process.cwd(), path), rest);
}

/** samples/models/toy-circuits.gguf of the installed package, found upwards from this file. */
export function bundledModelPath(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "samples", "models", "toy-circuits.gguf");
    if (existsSync(p)) return p;
    dir = resolve(dir, "..");
  }
  return resolve(__dirname, "..", "..", "samples", "models", "toy-circuits.gguf");
}

export { Model, ActivationCache } from "./model";
export type { LoadOptions, ModelConfig, HookInfo, ModelInput, Hooks, NamesFilter, RunOptions, CacheOptions, BatchItem, GenerateOptions, Generation, RunResult } from "./model";
export { Tensor } from "./tensor";
export type { HookFn, HookContext } from "./forward";
export { zero, mean, patch, addVector } from "./interventions";
export type { Selection } from "./interventions";
export { quantize } from "./quantize";
export type { Provenance } from "./model-file";
export { FILE_TYPES } from "./model-file";
export { setInterruptFlag } from "./interrupt";
export { llamaLog } from "./log";
export { SUPPORTED_ARCHITECTURES } from "./hook-table";
export {
  EngineError,
  ModelNotFoundError,
  NotGgufError,
  TruncatedGgufError,
  UnsupportedArchitectureError,
  ModelLoadError,
  UnknownHookError,
  OutOfRangeError,
  HookShapeError,
  ContextOverflowError,
  InterruptedError,
  DisposedError,
  DecodeError,
  BadArgumentError,
} from "./errors";
export type { EngineErrorCode } from "./errors";
