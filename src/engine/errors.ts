/**
 * Typed engine errors. Each message names the problem and the fix; `code` lets callers branch
 * without parsing text. None of them leaves the engine unusable: the model stays loaded.
 */
export type EngineErrorCode =
  | "model-not-found"
  | "not-gguf"
  | "truncated-gguf"
  | "unsupported-architecture"
  | "model-load-failed"
  | "unknown-hook"
  | "unknown-weight"
  | "out-of-range"
  | "hook-shape"
  | "context-overflow"
  | "interrupted"
  | "disposed"
  | "decode-failed"
  | "bad-argument"
  | "quantize-failed";

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class ModelNotFoundError extends EngineError {
  override name = "ModelNotFoundError";
  constructor(readonly path: string) {
    super("model-not-found", `Model file not found: ${path}. Check the path (relative paths resolve against the notebook's folder).`);
  }
}

export class NotGgufError extends EngineError {
  override name = "NotGgufError";
  constructor(readonly path: string, detail: string) {
    super("not-gguf", `${path} is not a GGUF model file (${detail}). Load a .gguf file, e.g. one converted with llama.cpp's convert_hf_to_gguf.py.`);
  }
}

export class TruncatedGgufError extends EngineError {
  override name = "TruncatedGgufError";
  constructor(readonly path: string, detail: string) {
    super("truncated-gguf", `${path} is a damaged or incomplete GGUF file (${detail}). Download or copy it again.`);
  }
}

export class UnsupportedArchitectureError extends EngineError {
  override name = "UnsupportedArchitectureError";
  constructor(readonly architecture: string, readonly supported: readonly string[]) {
    super(
      "unsupported-architecture",
      `Architecture "${architecture}" is not supported by steer's hook table yet. Supported: ${supported.join(", ")}.`,
    );
  }
}

export class ModelLoadError extends EngineError {
  override name = "ModelLoadError";
  constructor(readonly path: string, log: string) {
    super("model-load-failed", `llama.cpp could not load ${path}.${log ? ` Its log says:\n${log}` : ""}`);
  }
}

export class UnknownHookError extends EngineError {
  override name = "UnknownHookError";
  constructor(readonly hookName: string, readonly suggestions: string[]) {
    super(
      "unknown-hook",
      `Unknown hook name "${hookName}".${suggestions.length ? ` Did you mean ${suggestions.map((s) => `"${s}"`).join(", ")}?` : ""} model.hookNames() lists them all.`,
    );
  }
}

export class UnknownWeightError extends EngineError {
  override name = "UnknownWeightError";
  constructor(readonly weightName: string, readonly suggestions: string[]) {
    super(
      "unknown-weight",
      `Unknown weight "${weightName}".${suggestions.length ? ` Did you mean ${suggestions.map((s) => `"${s}"`).join(", ")}?` : ""} model.weightNames() lists them all.`,
    );
  }
}

export class OutOfRangeError extends EngineError {
  override name = "OutOfRangeError";
  /** `context` says what the count is of, e.g. "the input has 15 tokens" (default "this model has {count}"). */
  constructor(what: string, value: number, count: number, context = `this model has ${count}`) {
    super("out-of-range", `${what} ${value} is out of range: ${context} (valid: 0..${count - 1}).`);
  }
}

/** `value` when it is a whole number in 0..count-1, else an OutOfRangeError (see its `context`). */
export function checkIndex(what: string, value: unknown, count: number, context?: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= count) throw new OutOfRangeError(what, value as number, count, context);
  return value;
}

export class HookShapeError extends EngineError {
  override name = "HookShapeError";
  constructor(readonly hookName: string, readonly expected: readonly number[], readonly actual: readonly number[] | string) {
    super(
      "hook-shape",
      `Hook for ${hookName} returned shape ${typeof actual === "string" ? actual : `[${actual.join(", ")}]`}, expected [${expected.join(", ")}]. Return a tensor of the same shape, or edit it in place and return nothing.`,
    );
  }
}

export class ContextOverflowError extends EngineError {
  override name = "ContextOverflowError";
  constructor(tokens: number, context: number, what = "The input has", trainedPositions?: number) {
    super(
      "context-overflow",
      trainedPositions !== undefined
        ? `${what} ${tokens} tokens but this model's learned position embeddings cover only ${trainedPositions} positions. Shorten the prompt (or maxTokens).`
        : `${what} ${tokens} tokens but the context holds ${context}. Shorten the prompt or load the model with a larger contextSize.`,
    );
  }
}

/** The one interrupt error of the codebase: the engine throws it from decode, the kernel from cell code. */
export class InterruptedError extends EngineError {
  override name = "InterruptedError";
  constructor(message = "Interrupted. The model is still loaded and can be used again.") {
    super("interrupted", message);
  }
}

export class DisposedError extends EngineError {
  override name = "DisposedError";
  constructor() {
    super("disposed", "This model was disposed. Load it again with steer.load().");
  }
}

export class DecodeError extends EngineError {
  override name = "DecodeError";
  constructor(status: number, log: string) {
    super("decode-failed", `llama_decode failed with status ${status}.${log ? ` llama.cpp log:\n${log}` : ""}`);
  }
}

export class QuantizeError extends EngineError {
  override name = "QuantizeError";
  constructor(readonly path: string, type: string, log: string) {
    super("quantize-failed", `Quantizing ${path} to ${type} failed.${log ? ` llama.cpp log:\n${log}` : ""} Check that the destination folder is writable and has room, and that the type suits this model.`);
  }
}

export class BadArgumentError extends EngineError {
  override name = "BadArgumentError";
  constructor(message: string) {
    super("bad-argument", message);
  }
}
