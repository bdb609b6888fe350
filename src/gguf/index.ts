// GGUF v3 reading and writing in plain TypeScript.
export { GGUFValueType, GGMLType, ggmlTypeName, tensorByteSize, GGUF_DEFAULT_ALIGNMENT } from "./types";
export type { GGUFValue, GGUFScalar, GGUFArray, GGUFArrayItem } from "./types";
export { readGGUF, readGGUFHeader, tensorFloats, readTensorFloats, findTensor, metaValue, metaNumber, metaString, GGUFError } from "./read";
export type { GGUFFile, GGUFTensorInfo } from "./read";
export { writeGGUF, writeGGUFFile, gguf } from "./write";
export type { GGUFSpec, GGUFTensorSpec } from "./write";
export { f32ToF16Bits, f16BitsToF32, f32ArrayToF16, f16ArrayToF32 } from "./f16";
