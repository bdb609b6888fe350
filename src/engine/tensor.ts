/**
 * A dense row-major Float32 tensor with named dimensions (TransformerLens order, e.g.
 * [pos, head, d_head]). Views share `data` with their source only where noted.
 */
export class Tensor {
  readonly shape: number[];
  readonly dims: string[];
  readonly data: Float32Array;

  constructor(shape: readonly number[], data?: Float32Array, dims?: readonly string[]) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (data && data.length !== size) throw new RangeError(`Tensor data has ${data.length} values, shape [${shape.join(", ")}] needs ${size}.`);
    this.shape = [...shape];
    this.data = data ?? new Float32Array(size);
    this.dims = dims ? [...dims] : shape.map((_, i) => `dim${i}`);
  }

  get size(): number {
    return this.data.length;
  }

  private strides(): number[] {
    const s = new Array<number>(this.shape.length);
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= this.shape[i];
    }
    return s;
  }

  private dimIndex(dim: number | string): number {
    const d = typeof dim === "string" ? this.dims.indexOf(dim) : dim < 0 ? this.shape.length + dim : dim;
    if (d < 0 || d >= this.shape.length) throw new RangeError(`No dimension ${dim} in a tensor with dims [${this.dims.join(", ")}].`);
    return d;
  }

  private offset(idx: readonly number[]): number {
    if (idx.length !== this.shape.length) throw new RangeError(`Expected ${this.shape.length} indices for shape [${this.shape.join(", ")}], got ${idx.length}.`);
    const st = this.strides();
    let o = 0;
    for (let i = 0; i < idx.length; i++) {
      const k = idx[i] < 0 ? this.shape[i] + idx[i] : idx[i];
      if (!Number.isInteger(k) || k < 0 || k >= this.shape[i]) throw new RangeError(`Index ${idx[i]} out of range for ${this.dims[i]} (size ${this.shape[i]}).`);
      o += k * st[i];
    }
    return o;
  }

  /** One value; negative indices count from the end. */
  get(...idx: number[]): number {
    return this.data[this.offset(idx)];
  }

  set(value: number, ...idx: number[]): void {
    this.data[this.offset(idx)] = value;
  }

  /** A copy of the sub-tensor with index `i` along `dim` (the dim disappears). */
  select(dim: number | string, i: number): Tensor {
    const d = this.dimIndex(dim);
    const k = i < 0 ? this.shape[d] + i : i;
    if (k < 0 || k >= this.shape[d]) throw new RangeError(`Index ${i} out of range for ${this.dims[d]} (size ${this.shape[d]}).`);
    const r = this.slice(d, k, k + 1);
    return new Tensor(
      r.shape.filter((_, j) => j !== d),
      r.data,
      r.dims.filter((_, j) => j !== d),
    );
  }

  /** A copy of indices [start, end) along `dim`. */
  slice(dim: number | string, start: number, end = this.shape[this.dimIndex(dim)]): Tensor {
    const d = this.dimIndex(dim);
    const n = this.shape[d];
    const s = Math.max(0, start < 0 ? n + start : start);
    const e = Math.min(n, end < 0 ? n + end : end);
    const outer = this.shape.slice(0, d).reduce((a, b) => a * b, 1);
    const inner = this.shape.slice(d + 1).reduce((a, b) => a * b, 1);
    const shape = [...this.shape];
    shape[d] = Math.max(0, e - s);
    const out = new Float32Array(outer * shape[d] * inner);
    for (let o = 0; o < outer; o++) {
      out.set(this.data.subarray((o * n + s) * inner, (o * n + e) * inner), o * shape[d] * inner);
    }
    return new Tensor(shape, out, this.dims);
  }

  /** One attention head of a [.., head, ..] tensor (hook_q/k/v/z, hook_pattern). */
  head(h: number): Tensor {
    const d = this.dims.indexOf("head") >= 0 ? "head" : this.dims.indexOf("kv_head") >= 0 ? "kv_head" : undefined;
    if (!d) throw new RangeError(`Tensor with dims [${this.dims.join(", ")}] has no head dimension.`);
    return this.select(d, h);
  }

  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice(), this.dims);
  }

  /** The largest absolute value (0 for an empty tensor). */
  maxAbs(): number {
    let m = 0;
    for (const v of this.data) m = Math.max(m, Math.abs(v));
    return m;
  }

  /** Nested arrays, for display and JSON. */
  toArray(): unknown {
    const rec = (d: number, o: number): unknown => {
      if (d === this.shape.length) return this.data[o];
      const st = this.shape.slice(d + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[d] }, (_, i) => rec(d + 1, o + i * st));
    };
    return rec(0, 0);
  }

  toString(): string {
    return `Tensor[${this.shape.map((s, i) => `${this.dims[i]}=${s}`).join(", ")}]`;
  }
}
