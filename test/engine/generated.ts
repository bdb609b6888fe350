// Small random models of each supported architecture, written with the models helper's generator
// (src/models) into a temporary folder once per test process, removed when the process exits.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { writeRandomModel, type RandomModelOptions } from "../../src/models/index";

export interface GeneratedModel {
  arch: "llama" | "gpt2" | "qwen2";
  path: () => string;
  skip: string | false;
}

let dir: string | undefined;

function folder(): string {
  if (!dir) {
    dir = mkdtempSync(path.join(tmpdir(), "steer-engine-models-"));
    const d = dir;
    process.on("exit", () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

const written = new Map<string, string>();

/** The path of a generated model with these options (written on first use). */
export function generatedModel(name: string, options: RandomModelOptions): string {
  let p = written.get(name);
  if (!p) {
    p = path.join(folder(), `${name}.gguf`);
    writeRandomModel(p, options);
    written.set(name, p);
  }
  return p;
}

// Grouped-query attention for llama and qwen2; gpt2 has a fused QKV and no attn_out tensor.
const shapes: Record<GeneratedModel["arch"], RandomModelOptions> = {
  llama: { arch: "llama", layers: 2, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 1 },
  gpt2: { arch: "gpt2", layers: 2, heads: 4, dModel: 64, dMlp: 256, seed: 2 },
  qwen2: { arch: "qwen2", layers: 2, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 3 },
};

export const generatedModels: GeneratedModel[] = (["llama", "gpt2", "qwen2"] as const).map((arch) => ({
  arch,
  path: () => generatedModel(`random-${arch}`, shapes[arch]),
  skip: false,
}));
