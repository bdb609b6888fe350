/** Loading a model by path, and where the bundled sample model lives. */
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
