// GGUF v3 reader: metadata of every value type, tensor infos, and F32/F16 tensor data.
// Reads the header from a prefix of the file, growing it until the header fits, so a multi-GB model
// costs only its header in memory; tensor data is read on demand.
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import { f16BitsToF32 } from "./f16";
import { GGMLType, GGUFValueType, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, ggmlTypeName, tensorByteSize, type GGUFArrayItem, type GGUFValue } from "./types";

export interface GGUFTensorInfo {
  name: string;
  /** ne0 first (the fastest-varying dimension), as ggml counts them. */
  dims: number[];
  type: number;
  typeName: string;
  /** Offset from the start of the data section. */
  offset: number;
  /** Absolute offset of the data in the file. */
  fileOffset: number;
  /** Byte size, undefined for a type this reader does not know. */
  byteSize: number | undefined;
}

export interface GGUFFile {
  version: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  alignment: number;
  dataOffset: number;
}

/** Error for input that is not a readable GGUF file; the message names the problem. */
export class GGUFError extends Error {
  override name = "GGUFError";
}

class NeedMore extends Error {}

class Cursor {
  pos = 0;
  private view: DataView;
  private text = new TextDecoder("utf-8", { fatal: false });
  constructor(private bytes: Uint8Array, private complete: boolean) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.bytes.length) {
      if (this.complete) throw new GGUFError(`GGUF file is truncated: needed ${n} bytes at offset ${p}, file has ${this.bytes.length}`);
      throw new NeedMore();
    }
    this.pos += n;
    return p;
  }
  u8() { return this.view.getUint8(this.need(1)); }
  i8() { return this.view.getInt8(this.need(1)); }
  u16() { return this.view.getUint16(this.need(2), true); }
  i16() { return this.view.getInt16(this.need(2), true); }
  u32() { return this.view.getUint32(this.need(4), true); }
  i32() { return this.view.getInt32(this.need(4), true); }
  f32() { return this.view.getFloat32(this.need(4), true); }
  f64() { return this.view.getFloat64(this.need(8), true); }
  u64() { return this.view.getBigUint64(this.need(8), true); }
  i64() { return this.view.getBigInt64(this.need(8), true); }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  count(what: string) {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GGUFError(`GGUF ${what} ${v} is too large; the file is corrupt`);
    return Number(v);
  }
  string() {
    const n = this.count("string length");
    const p = this.need(n);
    return this.text.decode(this.bytes.subarray(p, p + n));
  }
}

function readItem(c: Cursor, type: GGUFValueType): GGUFArrayItem {
  switch (type) {
    case GGUFValueType.UINT8: return c.u8();
    case GGUFValueType.INT8: return c.i8();
    case GGUFValueType.UINT16: return c.u16();
    case GGUFValueType.INT16: return c.i16();
    case GGUFValueType.UINT32: return c.u32();
    case GGUFValueType.INT32: return c.i32();
    case GGUFValueType.FLOAT32: return c.f32();
    case GGUFValueType.BOOL: return c.u8() !== 0;
    case GGUFValueType.STRING: return c.string();
    case GGUFValueType.UINT64: return c.u64();
    case GGUFValueType.INT64: return c.i64();
    case GGUFValueType.FLOAT64: return c.f64();
    case GGUFValueType.ARRAY: {
      const itemType = c.u32();
      const n = c.count("array length");
      const items: GGUFArrayItem[] = new Array(n);
      for (let i = 0; i < n; i++) items[i] = readItem(c, itemType);
      return { itemType, items };
    }
    default:
      throw new GGUFError(`unknown GGUF metadata value type ${type} at offset ${c.pos - 4}; the file is corrupt or newer than this reader`);
  }
}

function readValue(c: Cursor): GGUFValue {
  const type = c.u32();
  const v = readItem(c, type);
  if (type === GGUFValueType.ARRAY) {
    const a = v as { itemType: GGUFValueType; items: GGUFArrayItem[] };
    return { type, itemType: a.itemType, items: a.items };
  }
  return { type, value: v } as GGUFValue;
}

function parse(bytes: Uint8Array, complete: boolean, source: string): GGUFFile {
  const c = new Cursor(bytes, complete);
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) !== GGUF_MAGIC) {
    throw new GGUFError(`${source} is not a GGUF file (it does not start with "GGUF"); pass a .gguf model file`);
  }
  c.u32();
  const version = c.u32();
  if (version !== 3 && version !== 2) throw new GGUFError(`${source} is GGUF version ${version}; this reader supports versions 2 and 3`);
  const nTensors = c.count("tensor count");
  const nKv = c.count("metadata count");
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string();
    metadata.set(key, readValue(c));
  }
  const alignValue = metadata.get("general.alignment");
  const alignment = alignValue && alignValue.type !== GGUFValueType.ARRAY ? Number(alignValue.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw new GGUFError(`${source}: general.alignment ${alignment} is not a positive multiple of 8`);
  const infos: Omit<GGUFTensorInfo, "fileOffset">[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.string();
    const nDims = c.u32();
    if (nDims > 8) throw new GGUFError(`${source}: tensor ${name} has ${nDims} dimensions; the file is corrupt`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.count("tensor dimension"));
    const type = c.u32();
    const offset = c.count("tensor offset");
    infos.push({ name, dims, type, typeName: ggmlTypeName(type), offset, byteSize: tensorByteSize(type, dims) });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const tensors = infos.map((t) => ({ ...t, fileOffset: dataOffset + t.offset }));
  return { version, metadata, tensors, alignment, dataOffset };
}

/** Parses a whole GGUF file held in memory. */
export function readGGUF(bytes: Uint8Array, source = "input"): GGUFFile {
  return parse(bytes, true, source);
}

/** Parses the header of a GGUF file on disk, reading only as much of it as the header needs. */
export function readGGUFHeader(path: string): GGUFFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new GGUFError(`cannot open ${path}: ${(e as Error).message}; check the path to the .gguf file`);
  }
  try {
    const size = fstatSync(fd).size;
    for (let want = Math.min(size, 1 << 20); ; want = Math.min(size, want * 4)) {
      const buf = new Uint8Array(want);
      readSync(fd, buf, 0, want, 0);
      try {
        return parse(buf, want === size, path);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function decode(info: GGUFTensorInfo, raw: Uint8Array): Float32Array {
  const n = info.dims.reduce((a, b) => a * b, 1);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  if (info.type === GGMLType.F32) {
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, n).slice(); // little-endian hosts only, as llama.cpp
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (info.type === GGMLType.F16) {
    for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
  } else {
    throw new GGUFError(`tensor ${info.name} is ${info.typeName}; this reader converts only F32 and F16 tensors to floats`);
  }
  return out;
}

/** Tensor data as floats (F32 and F16 tensors), from a file in memory. */
export function tensorFloats(file: GGUFFile, bytes: Uint8Array, name: string): Float32Array {
  const info = findTensor(file, name);
  return decode(info, bytes.subarray(info.fileOffset, info.fileOffset + (info.byteSize ?? 0)));
}

/** Tensor data as floats (F32 and F16 tensors), read from a file on disk. */
export function readTensorFloats(path: string, file: GGUFFile, name: string): Float32Array {
  const info = findTensor(file, name);
  const raw = new Uint8Array(info.byteSize ?? 0);
  const fd = openSync(path, "r");
  try {
    readSync(fd, raw, 0, raw.length, info.fileOffset);
  } finally {
    closeSync(fd);
  }
  return decode(info, raw);
}

export function findTensor(file: GGUFFile, name: string): GGUFTensorInfo {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new GGUFError(`no tensor named ${name} in this GGUF file (it has ${file.tensors.length} tensors, e.g. ${file.tensors.slice(0, 3).map((t) => t.name).join(", ")})`);
  return info;
}

/** A metadata value as a plain JS value (arrays as JS arrays), or undefined when absent. */
export function metaValue(file: GGUFFile, key: string): unknown {
  const v = file.metadata.get(key);
  if (!v) return undefined;
  if (v.type === GGUFValueType.ARRAY) return plainItems(v.items);
  return v.value;
}

function plainItems(items: GGUFArrayItem[]): unknown[] {
  return items.map((it) => (typeof it === "object" ? plainItems(it.items) : it));
}

/** A numeric metadata value, with a clear error when it is missing or not a number. */
export function metaNumber(file: GGUFFile, key: string, fallback?: number): number {
  const v = metaValue(file, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GGUFError(`GGUF metadata key ${key} is missing`);
  }
  if (typeof v !== "number" && typeof v !== "bigint") throw new GGUFError(`GGUF metadata key ${key} is not a number`);
  return Number(v);
}

export function metaString(file: GGUFFile, key: string): string | undefined {
  const v = metaValue(file, key);
  return typeof v === "string" ? v : undefined;
}
