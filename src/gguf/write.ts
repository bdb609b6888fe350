// GGUF v3 writer: metadata of every value type, F32 and F16 tensors, aligned tensor data.
// writeGGUFFile streams tensor by tensor, so a large model needs one tensor in memory at a time.
import { closeSync, openSync, writeSync } from "node:fs";
import { f32ToF16Bits } from "./f16";
import { GGMLType, GGUFValueType, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GGUFArrayItem, type GGUFValue } from "./types";

export interface GGUFTensorSpec {
  name: string;
  /** ne0 first (fastest-varying), e.g. token_embd.weight is [d_model, vocab]. */
  dims: number[];
  type: GGMLType.F32 | GGMLType.F16;
  /** Values in ggml order (ne0 fastest); a function is called only when the tensor is written. */
  data: Float32Array | (() => Float32Array);
}

export interface GGUFSpec {
  /** Written in insertion order. general.alignment, when present, sets the alignment. */
  metadata: Map<string, GGUFValue> | [string, GGUFValue][];
  tensors: GGUFTensorSpec[];
}

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private enc = new TextEncoder();
  private room(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) { this.room(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number) { this.room(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number) { this.room(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number) { this.room(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number) { this.room(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number) { this.room(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number) { this.room(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number) { this.room(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint | number) { this.room(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: bigint) { this.room(8); this.view.setBigInt64(this.length, v, true); this.length += 8; }
  string(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.length);
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.room(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes() { return this.buf.subarray(0, this.length); }
}

function check(ok: boolean, what: string) {
  if (!ok) throw new Error(`cannot write GGUF: ${what}`);
}

function writeItem(w: ByteWriter, type: GGUFValueType, v: GGUFArrayItem, key: string) {
  const isInt = (lo: number, hi: number) => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
  const bad = () => `metadata ${key}: value ${String(v)} does not fit type ${GGUFValueType[type]}`;
  switch (type) {
    case GGUFValueType.UINT8: check(isInt(0, 0xff), bad()); return w.u8(v as number);
    case GGUFValueType.INT8: check(isInt(-0x80, 0x7f), bad()); return w.i8(v as number);
    case GGUFValueType.UINT16: check(isInt(0, 0xffff), bad()); return w.u16(v as number);
    case GGUFValueType.INT16: check(isInt(-0x8000, 0x7fff), bad()); return w.i16(v as number);
    case GGUFValueType.UINT32: check(isInt(0, 0xffffffff), bad()); return w.u32(v as number);
    case GGUFValueType.INT32: check(isInt(-0x80000000, 0x7fffffff), bad()); return w.i32(v as number);
    case GGUFValueType.FLOAT32: check(typeof v === "number", bad()); return w.f32(v as number);
    case GGUFValueType.FLOAT64: check(typeof v === "number", bad()); return w.f64(v as number);
    case GGUFValueType.BOOL: check(typeof v === "boolean", bad()); return w.u8(v ? 1 : 0);
    case GGUFValueType.STRING: check(typeof v === "string", bad()); return w.string(v as string);
    case GGUFValueType.UINT64: check(typeof v === "bigint" && v >= 0n && v < 1n << 64n, bad()); return w.u64(v as bigint);
    case GGUFValueType.INT64: check(typeof v === "bigint" && v >= -(1n << 63n) && v < 1n << 63n, bad()); return w.i64(v as bigint);
    case GGUFValueType.ARRAY: {
      check(typeof v === "object" && v !== null && Array.isArray((v as { items: unknown }).items), bad());
      const a = v as { itemType: GGUFValueType; items: GGUFArrayItem[] };
      w.u32(a.itemType);
      w.u64(a.items.length);
      for (const it of a.items) writeItem(w, a.itemType, it, key);
      return;
    }
    default:
      throw new Error(`cannot write GGUF: metadata ${key} has unknown type ${type}`);
  }
}

function header(spec: GGUFSpec): { head: Uint8Array; alignment: number; offsets: number[]; sizes: number[] } {
  const entries = spec.metadata instanceof Map ? [...spec.metadata] : spec.metadata;
  const align = entries.find(([k]) => k === "general.alignment")?.[1];
  const alignment = align && align.type !== GGUFValueType.ARRAY ? Number(align.value) : GGUF_DEFAULT_ALIGNMENT;
  check(Number.isInteger(alignment) && alignment > 0 && alignment % 8 === 0, `general.alignment ${alignment} must be a positive multiple of 8`);
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(spec.tensors.length);
  w.u64(entries.length);
  for (const [key, value] of entries) {
    w.string(key);
    w.u32(value.type);
    writeItem(w, value.type, value.type === GGUFValueType.ARRAY ? { itemType: value.itemType, items: value.items } : value.value, key);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const t of spec.tensors) {
    check(!names.has(t.name), `two tensors are named ${t.name}`);
    names.add(t.name);
    check(t.type === GGMLType.F32 || t.type === GGMLType.F16, `tensor ${t.name}: only F32 and F16 can be written`);
    check(t.dims.length >= 1 && t.dims.length <= 4 && t.dims.every((d) => Number.isInteger(d) && d > 0), `tensor ${t.name}: dims ${JSON.stringify(t.dims)} must be 1 to 4 positive integers`);
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offsets.push(offset);
    const size = t.dims.reduce((a, b) => a * b, 1) * (t.type === GGMLType.F32 ? 4 : 2);
    sizes.push(size);
    offset += Math.ceil(size / alignment) * alignment;
  }
  w.pad(alignment);
  return { head: w.bytes(), alignment, offsets, sizes };
}

/** The tensor's bytes (a view of an F32 array, no copy) and the zero padding that follows them. */
function tensorBytes(t: GGUFTensorSpec, size: number, alignment: number): [Uint8Array, Uint8Array] {
  const data = typeof t.data === "function" ? t.data() : t.data;
  const n = t.dims.reduce((a, b) => a * b, 1);
  check(data.length === n, `tensor ${t.name} has ${data.length} values but dims ${JSON.stringify(t.dims)} need ${n}`);
  const padding = new Uint8Array(Math.ceil(size / alignment) * alignment - size);
  if (t.type === GGMLType.F32) return [new Uint8Array(data.buffer, data.byteOffset, n * 4), padding];
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = f32ToF16Bits(data[i]);
  return [new Uint8Array(h.buffer), padding];
}

/** The whole file as bytes. */
export function writeGGUF(spec: GGUFSpec): Uint8Array {
  const { head, alignment, sizes } = header(spec);
  const parts = spec.tensors.flatMap((t, i) => tensorBytes(t, sizes[i], alignment));
  const out = new Uint8Array(head.length + parts.reduce((a, p) => a + p.length, 0));
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes the file tensor by tensor. */
export function writeGGUFFile(path: string, spec: GGUFSpec): void {
  const { head, alignment, sizes } = header(spec);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, head);
    spec.tensors.forEach((t, i) => {
      for (const part of tensorBytes(t, sizes[i], alignment)) writeSync(fd, part);
    });
  } finally {
    closeSync(fd);
  }
}

/** Shorthands for typed metadata values. */
export const gguf = {
  u8: (value: number): GGUFValue => ({ type: GGUFValueType.UINT8, value }),
  i8: (value: number): GGUFValue => ({ type: GGUFValueType.INT8, value }),
  u16: (value: number): GGUFValue => ({ type: GGUFValueType.UINT16, value }),
  i16: (value: number): GGUFValue => ({ type: GGUFValueType.INT16, value }),
  u32: (value: number): GGUFValue => ({ type: GGUFValueType.UINT32, value }),
  i32: (value: number): GGUFValue => ({ type: GGUFValueType.INT32, value }),
  f32: (value: number): GGUFValue => ({ type: GGUFValueType.FLOAT32, value }),
  f64: (value: number): GGUFValue => ({ type: GGUFValueType.FLOAT64, value }),
  u64: (value: bigint): GGUFValue => ({ type: GGUFValueType.UINT64, value }),
  i64: (value: bigint): GGUFValue => ({ type: GGUFValueType.INT64, value }),
  bool: (value: boolean): GGUFValue => ({ type: GGUFValueType.BOOL, value }),
  str: (value: string): GGUFValue => ({ type: GGUFValueType.STRING, value }),
  array: (itemType: GGUFValueType, items: GGUFArrayItem[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType, items }),
};
