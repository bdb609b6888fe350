/**
 * Loading a model by path, and where the bundled sample model lives. Loading the same file with the
 * same options again (a re-run load cell) returns the model already loaded, unless it was disposed.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { Model, type LoadOptions } from "./model";
import { fileStamp } from "./model-file";

export interface LoadCallOptions extends LoadOptions {
  /** folder that a relative `path` resolves against (default: the current directory) */
  baseDir?: string;
}

// Weak: a model nothing else references is collected (its native finalizers free llama.cpp's memory).
const loaded = new Map<string, WeakRef<Model>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (!loaded.get(key)?.deref()) loaded.delete(key);
});

/** Same file version (path, size, mtime) and same options: the same model. */
function cacheKey(path: string, options: LoadOptions): string | null {
  if (!existsSync(path)) return null;
  const opts = Object.entries(options)
    .filter(([k, v]) => k !== "abortFlag" && v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([fileStamp(path), opts]);
}

/** Loads a GGUF model (`path` relative to `options.baseDir`, default the current directory). */
export async function load(path: string, options: LoadCallOptions = {}): Promise<Model> {
  const { baseDir, ...rest } = options;
  const full = resolve(baseDir ?? process.cwd(), path);
  const key = cacheKey(full, rest);
  const known = key ? loaded.get(key)?.deref() : undefined;
  if (known && !known.disposed) {
    known.setAbortFlag(rest.abortFlag ?? null);
    return known;
  }
  const model = Model.load(full, rest);
  if (key) {
    loaded.set(key, new WeakRef(model));
    forget.register(model, key);
  }
  return model;
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
