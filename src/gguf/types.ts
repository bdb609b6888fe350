// GGUF v3 value types and ggml tensor types, numbered as in ggml/include/gguf.h and ggml.h.

export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** A scalar metadata value. 64-bit integers are bigint so that no value loses precision. */
export type GGUFScalar =
  | { type: GGUFValueType.UINT8 | GGUFValueType.INT8 | GGUFValueType.UINT16 | GGUFValueType.INT16 | GGUFValueType.UINT32 | GGUFValueType.INT32 | GGUFValueType.FLOAT32 | GGUFValueType.FLOAT64; value: number }
  | { type: GGUFValueType.UINT64 | GGUFValueType.INT64; value: bigint }
  | { type: GGUFValueType.BOOL; value: boolean }
  | { type: GGUFValueType.STRING; value: string };

/** An array keeps its element type so that a file read and written again is byte-identical. */
export interface GGUFArray {
  type: GGUFValueType.ARRAY;
  itemType: GGUFValueType;
  /** numbers, bigints, booleans, strings, or nested { itemType, items } for arrays of arrays. */
  items: GGUFArrayItem[];
}
export type GGUFArrayItem = number | bigint | boolean | string | { itemType: GGUFValueType; items: GGUFArrayItem[] };

export type GGUFValue = GGUFScalar | GGUFArray;

/** ggml tensor types that can appear in a GGUF file. */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/** [elements per block, bytes per block], from ggml.c type_traits. */
const BLOCKS: Record<number, [number, number]> = {
  [GGMLType.F32]: [1, 4],
  [GGMLType.F16]: [1, 2],
  [GGMLType.Q4_0]: [32, 18],
  [GGMLType.Q4_1]: [32, 20],
  [GGMLType.Q5_0]: [32, 22],
  [GGMLType.Q5_1]: [32, 24],
  [GGMLType.Q8_0]: [32, 34],
  [GGMLType.Q8_1]: [32, 36],
  [GGMLType.Q2_K]: [256, 84],
  [GGMLType.Q3_K]: [256, 110],
  [GGMLType.Q4_K]: [256, 144],
  [GGMLType.Q5_K]: [256, 176],
  [GGMLType.Q6_K]: [256, 210],
  [GGMLType.Q8_K]: [256, 292],
  [GGMLType.IQ2_XXS]: [256, 66],
  [GGMLType.IQ2_XS]: [256, 74],
  [GGMLType.IQ3_XXS]: [256, 98],
  [GGMLType.IQ1_S]: [256, 50],
  [GGMLType.IQ4_NL]: [32, 18],
  [GGMLType.IQ3_S]: [256, 110],
  [GGMLType.IQ2_S]: [256, 82],
  [GGMLType.IQ4_XS]: [256, 136],
  [GGMLType.I8]: [1, 1],
  [GGMLType.I16]: [1, 2],
  [GGMLType.I32]: [1, 4],
  [GGMLType.I64]: [1, 8],
  [GGMLType.F64]: [1, 8],
  [GGMLType.IQ1_M]: [256, 56],
  [GGMLType.BF16]: [1, 2],
  [GGMLType.TQ1_0]: [256, 54],
  [GGMLType.TQ2_0]: [256, 66],
  [GGMLType.MXFP4]: [32, 17],
  [GGMLType.NVFP4]: [64, 36],
  [GGMLType.Q1_0]: [128, 18],
  [GGMLType.Q2_0]: [64, 18],
};

/** "F32", "Q4_K", ... or "unknown(<n>)" for a type number this reader does not know. */
export function ggmlTypeName(type: number): string {
  return GGMLType[type] ?? `unknown(${type})`;
}

/** Bytes taken by a tensor of this type and shape, or undefined for an unknown type. */
export function tensorByteSize(type: number, dims: readonly number[]): number | undefined {
  const block = BLOCKS[type];
  if (!block) return undefined;
  const n = dims.reduce((a, b) => a * b, 1);
  const ne0 = dims[0] ?? 1;
  if (ne0 % block[0] !== 0) throw new Error(`tensor row of ${ne0} elements is not a multiple of the ${ggmlTypeName(type)} block size ${block[0]}`);
  return (n / block[0]) * block[1];
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
