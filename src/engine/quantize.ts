/** Writes a quantized copy of a GGUF model with llama_model_quantize. */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { BadArgumentError, QuantizeError } from "./errors";
import { logMark, logProblemsSince } from "./log";
import { checkModelFile, FILE_TYPES, fileTypeName, provenance, type Provenance } from "./model-file";
import { llamaCppVersion, nativeAddon } from "./native";

export function quantize(src: string, dst: string, type: string): Provenance {
  const from = resolve(src);
  const to = resolve(dst);
  const ftype = FILE_TYPES[type.toUpperCase()];
  if (ftype === undefined) throw new BadArgumentError(`Unknown quantization type "${type}". Use one of: ${Object.keys(FILE_TYPES).join(", ")}.`);
  if (from === to) throw new BadArgumentError("quantize writes a new file: give a destination path different from the source.");
  checkModelFile(from);
  const mark = logMark();
  const rc = nativeAddon().quantize(from, to, ftype, availableParallelism());
  if (rc !== 0) throw new QuantizeError(from, type, logProblemsSince(mark));
  return provenance(to, fileTypeName(ftype), llamaCppVersion());
}
