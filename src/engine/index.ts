// The engine: GGUF models in llama.cpp with TransformerLens-named hooks on every activation.
export { load, bundledModelPath } from "./load";
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
