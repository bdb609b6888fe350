/** `steer-nb make-model`: writes a generated GGUF model (random weights, or the planted toy-circuits model). */
import { existsSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ARCHS, MIN_VOCAB, toyCircuitsTruth, writeRandomModel, writeToyCircuits, type Arch } from "../models";
import { EXIT, parseCommandArgs, UsageError, type Command } from "./command";

const help = `Usage: steer-nb make-model <kind> --out <file.gguf> [--seed <n>] [options]

Writes a GGUF model that llama.cpp loads, deterministically: the same options give the same bytes.
Every model has a small word vocabulary (names and simple sentence words are one token each).

Kinds:
  random        random weights of any shape
  toy-circuits  the planted model of samples/models/toy-circuits.gguf (induction, indirect object,
                massive activation and attention sink); also writes <out>.truth.json beside it
                naming the heads and dimensions of each circuit; see docs/toy-circuits.md

Options for random:
  --arch <llama|qwen2|gpt2>   architecture (default llama)
  --layers <n>                blocks (default 2)
  --heads <n>                 query heads (default 4)
  --kv-heads <n>              key/value heads (default: --heads)
  --d-model <n>               residual width (default 64)
  --d-mlp <n>                 MLP width (default 4 * d-model)
  --vocab <n>                 vocabulary size, at least ${MIN_VOCAB} (default ${MIN_VOCAB})
  --ctx <n>                   training context (default 512)
  --f16                       store weight matrices as F16 (default F32)
Common:
  -o, --out <file>            where to write (required)
  --seed <n>                  seed (default 0)

Examples:
  steer-nb make-model random --arch gpt2 --layers 12 --heads 12 --d-model 768 --d-mlp 3072 --out gpt2-small-random.gguf
  steer-nb make-model toy-circuits --out samples/models/toy-circuits.gguf`;

function int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
    out: { type: "string", short: "o" },
    seed: { type: "string" },
    arch: { type: "string" },
    layers: { type: "string" },
    heads: { type: "string" },
    "kv-heads": { type: "string" },
    "d-model": { type: "string" },
    "d-mlp": { type: "string" },
    vocab: { type: "string" },
    ctx: { type: "string" },
    f16: { type: "boolean" },
  });
  const { positionals, values: v } = parsed;
  const kind = positionals[0];
  if (positionals.length !== 1 || (kind !== "random" && kind !== "toy-circuits")) {
    throw new UsageError(kind ? `unknown kind "${positionals.join(" ")}"; use random or toy-circuits` : "missing the kind of model: random or toy-circuits");
  }
  if (!v.out) throw new UsageError("missing --out <file.gguf>");
  const out = resolve(v.out);
  if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) throw new UsageError(`cannot write ${out}: the folder ${dirname(out)} does not exist; create it first`);
  const seed = int("seed", v.seed, 0);
  if (kind === "toy-circuits") {
    writeToyCircuits(out, { seed });
    process.stdout.write(`wrote ${out}\n`);
    const truth = out.replace(/\.gguf$/i, "") + ".truth.json";
    writeFileSync(truth, JSON.stringify(toyCircuitsTruth(), null, 2) + "\n");
    process.stdout.write(`wrote ${truth}\n`);
  } else {
    const arch = (v.arch ?? "llama") as Arch;
    if (!ARCHS.includes(arch)) throw new UsageError(`unknown --arch "${arch}"; use one of ${ARCHS.join(", ")}`);
    const heads = int("heads", v.heads, 4);
    const dModel = int("d-model", v["d-model"], 64);
    try {
      writeRandomModel(out, {
        arch, seed, heads, dModel,
        layers: int("layers", v.layers, 2),
        kvHeads: int("kv-heads", v["kv-heads"], heads),
        dMlp: int("d-mlp", v["d-mlp"], 4 * dModel),
        vocab: int("vocab", v.vocab, MIN_VOCAB),
        ctx: int("ctx", v.ctx, 512),
        f16: v.f16 === true,
      });
    } catch (e) {
      if (/invalid model shape|vocabulary size/.test((e as Error).message)) throw new UsageError((e as Error).message);
      throw e;
    }
    process.stdout.write(`wrote ${out}\n`);
  }
  return EXIT.ok;
}

export const makeModelCommand: Command = { name: "make-model", summary: "Write a generated GGUF model (random weights, or the planted toy-circuits model).", help, run };
