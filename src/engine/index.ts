// The engine: GGUF models in llama.cpp with TransformerLens-named hooks on every activation.
export { load, bundledModelPath } from "./load";
export type { LoadCallOptions } from "./load";
export { Model, ActivationCache } from "./model";
export type { LoadOptions, RunReport, ModelConfig, HookInfo, ModelInput, Hooks, NamesFilter, RunOptions, CacheOptions, BatchItem, GenerateOptions, Generation, RunResult } from "./model";
export { Tensor } from "./tensor";
export { GRADIENT_ARCHITECTURES, GRADIENT_ONLY_HOOKS } from "./gradients";
export type { GradientMetric, GradientOptions, GradientResult } from "./gradients";
export type { HookFn, HookContext, BatchOptions, RunStats } from "./forward";
export { zero, mean, patch, addVector } from "./interventions";
export type { Selection } from "./interventions";
export { quantize } from "./quantize";
export { seededRandom } from "./sampling";
export type { Provenance } from "./model-file";
export { FILE_TYPES } from "./model-file";
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
  UnknownWeightError,
  OutOfRangeError,
  checkIndex,
  HookShapeError,
  ContextOverflowError,
  InterruptedError,
  DisposedError,
  DecodeError,
  BadArgumentError,
  QuantizeError,
} from "./errors";
export type { EngineErrorCode } from "./errors";
