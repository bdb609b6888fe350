import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  GGMLType, GGUFError, GGUFValueType, f16BitsToF32, f32ToF16Bits, gguf, metaValue, readGGUF, readGGUFHeader,
  readTensorFloats, tensorFloats, writeGGUF, writeGGUFFile, type GGUFValue,
} from "../../src/gguf/index";
import { withLlamaCppModel } from "./llama-cpp";

const repoRoot = path.resolve(__dirname, "../..");
const stories = path.resolve(repoRoot, "../shared/models/stories260K.gguf");
const noStories = existsSync(stories) ? false : `skipped: ${stories} is absent (the shared test models live beside the repository)`;

const everyType: [string, GGUFValue][] = [
  ["t.u8", gguf.u8(255)],
  ["t.i8", gguf.i8(-128)],
  ["t.u16", gguf.u16(65535)],
  ["t.i16", gguf.i16(-32768)],
  ["t.u32", gguf.u32(4294967295)],
  ["t.i32", gguf.i32(-2147483648)],
  ["t.f32", gguf.f32(Math.fround(1e-5))],
  ["t.bool", gguf.bool(true)],
  ["t.string", gguf.str("héllo ▁wörld")],
  ["t.u64", gguf.u64(18446744073709551615n)],
  ["t.i64", gguf.i64(-9223372036854775808n)],
  ["t.f64", gguf.f64(Math.PI)],
  ["t.empty_string", gguf.str("")],
  ["t.arr_u8", gguf.array(GGUFValueType.UINT8, [0, 1, 255])],
  ["t.arr_i8", gguf.array(GGUFValueType.INT8, [-1, 127])],
  ["t.arr_u16", gguf.array(GGUFValueType.UINT16, [7])],
  ["t.arr_i16", gguf.array(GGUFValueType.INT16, [-7, 7])],
  ["t.arr_u32", gguf.array(GGUFValueType.UINT32, [1, 2, 3])],
  ["t.arr_i32", gguf.array(GGUFValueType.INT32, [-3, 6])],
  ["t.arr_f32", gguf.array(GGUFValueType.FLOAT32, [0.5, -2.25])],
  ["t.arr_bool", gguf.array(GGUFValueType.BOOL, [true, false])],
  ["t.arr_string", gguf.array(GGUFValueType.STRING, ["▁Mary", "<0x0A>", ""])],
  ["t.arr_u64", gguf.array(GGUFValueType.UINT64, [0n, 1n << 40n])],
  ["t.arr_i64", gguf.array(GGUFValueType.INT64, [-(1n << 40n)])],
  ["t.arr_f64", gguf.array(GGUFValueType.FLOAT64, [1 / 3])],
  ["t.arr_empty", gguf.array(GGUFValueType.UINT32, [])],
  ["t.arr_nested", gguf.array(GGUFValueType.ARRAY, [{ itemType: GGUFValueType.STRING, items: ["a", "b"] }, { itemType: GGUFValueType.INT32, items: [5] }])],
];

test("every metadata type survives a write and a read, in order, with its type", () => {
  const bytes = writeGGUF({ metadata: everyType, tensors: [] });
  const file = readGGUF(bytes);
  assert.deepEqual([...file.metadata.entries()], everyType);
  assert.equal(file.version, 3);
  assert.deepEqual(Buffer.from(writeGGUF({ metadata: file.metadata, tensors: [] })), Buffer.from(bytes));
});

const alignmentCases = [{ alignment: undefined, expected: 32 }, { alignment: 64, expected: 64 }, { alignment: 8, expected: 8 }];
for (const { alignment, expected } of alignmentCases) {
  test(`tensor data is aligned to ${expected} bytes (general.alignment ${alignment ?? "absent"})`, () => {
    const meta: [string, GGUFValue][] = [["general.architecture", gguf.str("llama")]];
    if (alignment) meta.push(["general.alignment", gguf.u32(alignment)]);
    const tensors = [
      { name: "a", dims: [3], type: GGMLType.F32 as const, data: new Float32Array([1, 2, 3]) },
      { name: "b", dims: [5, 2], type: GGMLType.F16 as const, data: new Float32Array(10).map((_, i) => i - 4.5) },
      { name: "c", dims: [1], type: GGMLType.F32 as const, data: () => new Float32Array([42]) },
    ];
    const bytes = writeGGUF({ metadata: meta, tensors });
    const file = readGGUF(bytes);
    assert.equal(file.alignment, expected);
    for (const t of file.tensors) assert.equal(t.fileOffset % expected, 0, `${t.name} at ${t.fileOffset}`);
    assert.deepEqual(file.tensors.map((t) => [t.name, t.dims, t.typeName, t.byteSize]), [["a", [3], "F32", 12], ["b", [5, 2], "F16", 20], ["c", [1], "F32", 4]]);
    assert.deepEqual([...tensorFloats(file, bytes, "a")], [1, 2, 3]);
    assert.deepEqual([...tensorFloats(file, bytes, "b")], [...tensors[1].data as Float32Array]);
    assert.deepEqual([...tensorFloats(file, bytes, "c")], [42]);
  });
}

const f16Cases: [number, number][] = [
  [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
  [Infinity, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002],
  [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66], [6.1035156e-5, 0x0400],
];
test("F32 -> F16 rounds to nearest even, with overflow, subnormals and signed zero", () => {
  for (const [x, bits] of f16Cases) assert.equal(f32ToF16Bits(x), bits, `f16(${x}): expected 0x${bits.toString(16)}, got 0x${f32ToF16Bits(x).toString(16)}`);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  for (let h = 0; h < 0x7c00; h += 37) assert.equal(f32ToF16Bits(f16BitsToF32(h)), h, `bits 0x${h.toString(16)} do not round-trip`);
});

test("a tensor of a type the reader cannot convert is reported by its name", () => {
  const bytes = writeGGUF({ metadata: [], tensors: [{ name: "q", dims: [32], type: GGMLType.F32, data: new Float32Array(32) }] });
  const patched = new Uint8Array(bytes);
  // magic, version, tensor count, kv count, then the tensor info: name "q" (u64 length + 1 byte), n_dims, dims[0], type
  const typeAt = 4 + 4 + 8 + 8 + (8 + 1) + 4 + 8;
  new DataView(patched.buffer).setUint32(typeAt, GGMLType.Q8_0, true);
  const file = readGGUF(patched);
  assert.equal(file.tensors[0].typeName, "Q8_0");
  assert.equal(file.tensors[0].byteSize, 34);
  assert.throws(() => tensorFloats(file, patched, "q"), /Q8_0; this reader converts only F32 and F16/);
});

const badInputs: [string, Uint8Array, RegExp][] = [
  ["not GGUF", new TextEncoder().encode("PK\x03\x04 definitely a zip file"), /not a GGUF file/],
  ["truncated", writeGGUF({ metadata: everyType, tensors: [] }).subarray(0, 100), /truncated/],
  ["empty", new Uint8Array(0), /truncated/],
];
for (const [what, bytes, message] of badInputs) {
  test(`bad input (${what}) gets a GGUFError naming the problem`, () => {
    assert.throws(() => readGGUF(bytes), (e: unknown) => e instanceof GGUFError && message.test(e.message));
  });
}

test("a missing file gets an error naming the path", () => {
  assert.throws(() => readGGUFHeader("/nonexistent/model.gguf"), /cannot open \/nonexistent\/model.gguf/);
});

test("stories260K.gguf reads and writes back byte for byte", { skip: noStories }, () => {
  const bytes = readFileSync(stories);
  const file = readGGUF(bytes);
  assert.equal(metaValue(file, "general.architecture"), "llama");
  assert.equal(metaValue(file, "llama.block_count"), 5);
  assert.equal((metaValue(file, "tokenizer.ggml.tokens") as string[]).length, 512);
  const header = readGGUFHeader(stories);
  assert.deepEqual(header.tensors, file.tensors);
  assert.deepEqual([...readTensorFloats(stories, header, "output_norm.weight")], [...tensorFloats(file, bytes, "output_norm.weight")]);
  const again = writeGGUF({
    metadata: file.metadata,
    tensors: file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: GGMLType.F32, data: tensorFloats(file, bytes, t.name) })),
  });
  assert.equal(Buffer.compare(Buffer.from(again), bytes), 0);
});

test("a file written tensor by tensor in F16 loads in llama.cpp and tokenizes as the original", { skip: noStories }, async () => {
  const bytes = readFileSync(stories);
  const file = readGGUF(bytes);
  const dir = mkdtempSync(path.join(tmpdir(), "gguf-test-"));
  try {
    const out = path.join(dir, "stories-f16.gguf");
    const meta = new Map(file.metadata);
    meta.set("general.file_type", gguf.u32(1));
    writeGGUFFile(out, {
      metadata: meta,
      tensors: file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.dims.length > 1 ? GGMLType.F16 : GGMLType.F32, data: () => tensorFloats(file, bytes, t.name) })),
    });
    const f16 = readGGUFHeader(out);
    assert.equal(f16.tensors.find((t) => t.name === "token_embd.weight")?.typeName, "F16");
    const text = "Once upon a time, Lily";
    const [a, b] = await Promise.all([
      withLlamaCppModel(stories, (m) => m.tokenize(text).map(Number)),
      withLlamaCppModel(out, (m) => m.tokenize(text).map(Number)),
    ]);
    assert.deepEqual(b, a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
