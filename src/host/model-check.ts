/**
 * Whether a file is a model the engine can run, read in plain TypeScript from its GGUF header (the host
 * cannot load llama.cpp): the magic, a readable header, tensor data that fits in the file, and an
 * architecture the hook table knows. The engine checks the same at load (src/engine/model-file.ts);
 * this answers before anything is written into a notebook.
 */
import { existsSync, statSync } from "node:fs";
import { basename } from "node:path";
import { GGUFError, metaNumber, metaString, readGGUFHeader, type GGUFFile } from "../gguf";

/** The engine's SUPPORTED_ARCHITECTURES (src/engine/hook-table.ts; the host may not import the engine). A test keeps them equal. */
export const ENGINE_ARCHITECTURES: readonly string[] = ["llama", "qwen2", "gpt2"];

export type ModelCheck =
  | { ok: true; path: string; name: string; architecture: string; nLayers: number; nHeads: number }
  | { ok: false; path: string; reason: "not-found" | "not-gguf" | "truncated" | "unsupported-architecture"; message: string };

export function checkModel(path: string): ModelCheck {
  if (!existsSync(path) || !statSync(path).isFile()) return bad(path, "not-found", `${path}: no such file. Pick a .gguf model file.`);
  const size = statSync(path).size;
  let file: GGUFFile;
  try {
    file = readGGUFHeader(path);
  } catch (e) {
    if (!(e instanceof GGUFError)) throw e;
    if (size < 4 || /not a GGUF file/.test(e.message)) {
      return bad(path, "not-gguf", `${path} is not a GGUF model file (${size < 4 ? `only ${size} bytes long` : 'it does not start with "GGUF"'}). Pick a .gguf file, e.g. one converted with llama.cpp's convert_hf_to_gguf.py.`);
    }
    if (/truncated/.test(e.message)) return bad(path, "truncated", `${path} is a truncated GGUF file (its header ends early: ${e.message}). Download or copy it again.`);
    return bad(path, "not-gguf", `${path} is not a readable GGUF model file (${e.message}).`);
  }
  // Tensors of a type the reader does not know have no size: they cannot be checked, and llama.cpp will say.
  const end = file.tensors.reduce((m, t) => Math.max(m, t.fileOffset + (t.byteSize ?? 0)), file.dataOffset);
  if (end > size) return bad(path, "truncated", `${path} is a truncated GGUF file (its tensors need ${end} bytes, the file has ${size}). Download or copy it again.`);
  const architecture = metaString(file, "general.architecture") ?? "unknown";
  const supported = `supported: ${ENGINE_ARCHITECTURES.join(", ")}`;
  if (!ENGINE_ARCHITECTURES.includes(architecture)) {
    return bad(path, "unsupported-architecture", `${path}: architecture "${architecture}" is not supported by Steer's hooks (${supported}).`);
  }
  const experts = metaNumber(file, `${architecture}.expert_count`, 0);
  if (experts > 0) {
    return bad(path, "unsupported-architecture", `${path}: architecture "${architecture}" with ${experts} experts (mixture of experts) is not supported by Steer's hooks (${supported}, without experts).`);
  }
  return {
    ok: true,
    path,
    name: basename(path).replace(/\.gguf$/i, ""),
    architecture,
    nLayers: metaNumber(file, `${architecture}.block_count`, 0),
    nHeads: metaNumber(file, `${architecture}.attention.head_count`, 0),
  };
}

function bad(path: string, reason: Extract<ModelCheck, { ok: false }>["reason"], message: string): ModelCheck {
  return { ok: false, path, reason, message };
}
