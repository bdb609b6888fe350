/**
 * Checks a model file before llama.cpp sees it (llama.cpp's own failures are a null pointer and a
 * log line), and describes where a loaded model came from.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { ModelNotFoundError, NotGgufError, TruncatedGgufError, UnsupportedArchitectureError } from "./errors";
import { isSupportedArchitecture, SUPPORTED_ARCHITECTURES, type Architecture } from "./hook-table";
import { nativeAddon, type GgufInspection } from "./native";

export interface Provenance {
  /** absolute path */
  path: string;
  /** of the whole file; computed on first read (hashing gigabytes takes seconds), then cached */
  readonly sha256: string;
  /** the file type, e.g. "F32", "Q8_0", "Q4_K_M" */
  quantization: string;
  llamaCppVersion: string;
}

/** llama_ftype numbers (include/llama.h) by name, as llama-quantize spells them. */
export const FILE_TYPES: Record<string, number> = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13,
  Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ2_XXS: 19, IQ2_XS: 20, Q2_K_S: 21, IQ3_XS: 22,
  IQ3_XXS: 23, IQ1_S: 24, IQ4_NL: 25, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30, IQ1_M: 31, BF16: 32,
  TQ1_0: 36, TQ2_0: 37,
};

export function fileTypeName(ftype: number): string {
  // 1024 = LLAMA_FTYPE_GUESSED: the file does not say; llama.cpp guessed from the tensors.
  const guessed = ftype >= 1024;
  const base = guessed ? ftype - 1024 : ftype;
  const name = Object.keys(FILE_TYPES).find((k) => FILE_TYPES[k] === base) ?? `ftype ${base}`;
  return guessed ? `${name} (guessed)` : name;
}

export interface CheckedFile {
  path: string;
  arch: Architecture;
  gguf: GgufInspection;
}

/** A file's identity for the caches below: a file rewritten in place gets a new one. */
/** One version of a file: its path, size and modification time. */
export function fileStamp(path: string): string {
  const st = statSync(path);
  return `${path}\0${st.size}\0${st.mtimeMs}`;
}

const inspections = new Map<string, GgufInspection | null>();

/** ggml's reading of the GGUF header (null when it rejects it), once per file version. */
function inspectGguf(path: string): GgufInspection | null {
  const stamp = fileStamp(path);
  if (!inspections.has(stamp)) inspections.set(stamp, nativeAddon().ggufInspect(path));
  return inspections.get(stamp)!;
}

/** Existence, GGUF magic, readable header, complete tensor data, supported architecture. */
export function checkModelFile(path: string): CheckedFile {
  if (!existsSync(path) || !statSync(path).isFile()) throw new ModelNotFoundError(path);
  const size = statSync(path).size;
  const head = Buffer.alloc(8);
  const fd = openSync(path, "r");
  let got: number;
  try {
    got = readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (got < 4 || head.toString("latin1", 0, 4) !== "GGUF") {
    const shown = JSON.stringify(head.subarray(0, Math.min(got, 4)).toString("latin1"));
    throw new NotGgufError(path, got < 4 ? `only ${size} bytes long` : `it starts with ${shown}, not "GGUF"`);
  }
  const gguf = inspectGguf(path);
  if (!gguf) throw new TruncatedGgufError(path, "its header or metadata cannot be read");
  const end = gguf.tensors.reduce((m, t) => Math.max(m, gguf.dataOffset + t.offset + t.size), gguf.dataOffset);
  if (end > size) throw new TruncatedGgufError(path, `its tensors need ${end} bytes but the file has ${size}`);
  const arch = String(gguf.kv["general.architecture"] ?? "unknown");
  if (!isSupportedArchitecture(arch)) throw new UnsupportedArchitectureError(arch, SUPPORTED_ARCHITECTURES);
  // Mixture-of-experts variants (Mixtral is "llama" with experts) have a different MLP graph.
  const experts = gguf.kv[`${arch}.expert_count`];
  if (typeof experts === "number" && experts > 0) throw new UnsupportedArchitectureError(`${arch} with ${experts} experts (mixture of experts)`, SUPPORTED_ARCHITECTURES);
  return { path, arch, gguf };
}

const hashes = new Map<string, string>();

/**
 * Provenance whose `sha256` is computed when first read (an enumerable getter, so JSON shows it) and
 * cached in this process by the file version seen now, so models of one file hash it once.
 */
export function provenance(path: string, quantization: string, llamaCppVersion: string): Provenance {
  const p = { path, quantization, llamaCppVersion } as Provenance;
  const stamp = fileStamp(path);
  const sha256 = () => {
    let digest = hashes.get(stamp);
    if (!digest) hashes.set(stamp, (digest = hashFile(path)));
    return digest;
  };
  Object.defineProperty(p, "sha256", { enumerable: true, get: sha256 });
  return p;
}

function hashFile(path: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.alloc(1 << 22);
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}
