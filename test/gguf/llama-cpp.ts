// Loads GGUF files with the real llama.cpp (through node-llama-cpp) to check what our writer produces.
// Verification only: the product's engine is src/engine.
import path from "node:path";

type Llama = Awaited<ReturnType<typeof import("node-llama-cpp").getLlama>>;
let llamaPromise: Promise<Llama> | undefined;

export function llamaCpp(): Promise<Llama> {
  llamaPromise ??= import("node-llama-cpp").then((m) => m.getLlama({ gpu: false, logLevel: m.LlamaLogLevel.error, build: "never" }));
  return llamaPromise;
}

/** Loads the model, runs fn, and disposes the model whatever happens. */
export async function withLlamaCppModel<T>(file: string, fn: (model: Awaited<ReturnType<Llama["loadModel"]>>) => Promise<T> | T): Promise<T> {
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath: path.resolve(file) });
  try {
    return await fn(model);
  } finally {
    await model.dispose();
  }
}
