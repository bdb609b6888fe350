// Loads the test-only addon of llama-backward.cpp, building it first (build.mjs) when it is missing or
// older than its sources. A machine that cannot build it at all (no compiler toolchain, another
// platform) gets a skip reason; a build that fails where it could work is an error, not a skip.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";

export interface LlamaBackwardOptions {
  model: string;
  tokens: Int32Array;
  /** labels at the last prompt position in the first and the second pass */
  labelA: number;
  labelB: number;
  /** layers whose kqv_out (hook_z) gradient to return */
  layers: number[];
  threads: number;
}

export interface LlamaBackwardResult {
  /** rows of the one micro-batch: the loss is the mean cross-entropy over them */
  nUbatch: number;
  /** n_head * head_dim */
  width: number;
  lossA: number;
  lossB: number;
  /** per requested layer, d loss / d kqv_out, [tokens.length][width] */
  gradA: Float32Array[];
  gradB: Float32Array[];
}

export type LlamaBackward = (options: LlamaBackwardOptions) => LlamaBackwardResult;

const here = __dirname;
const root = path.resolve(here, "..", "..");
const platform = `${process.platform}-${process.arch}`;
const binsDir = path.join(root, "node_modules", "@node-llama-cpp", platform, "bins", platform);
const addonPath = path.join(here, "build", "Release", "llama_backward.node");
const sources = ["llama-backward.cpp", "binding.gyp"].map((f) => path.join(here, f));

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/** Why this machine cannot build the addon at all, or null when it can. */
function cannotBuild(): string | null {
  if (platform !== "linux-x64") return `the test addon is wired up for linux-x64 only (this is ${platform})`;
  const missing = ["g++", "make", "python3"].filter((t) => !onPath(t));
  if (missing.length) return `building the test addon needs ${missing.join(", ")} (node-gyp's toolchain), not found on PATH`;
  return null;
}

function stale(): boolean {
  if (!existsSync(addonPath)) return true;
  const built = statSync(addonPath).mtimeMs;
  return sources.some((s) => statSync(s).mtimeMs > built);
}

let loaded: LlamaBackward | undefined;

/** The addon's function, built on first use; or `{ skip }` saying why this machine cannot build it. */
export function loadLlamaBackward(): { run: LlamaBackward } | { skip: string } {
  if (!loaded) {
    if (stale()) {
      const why = cannotBuild();
      if (why) return { skip: `skipped: ${why}` };
      const r = spawnSync(process.execPath, [path.join(here, "build.mjs")], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`building ${addonPath} failed (exit ${r.status}):\n${(r.stdout + r.stderr).split("\n").slice(-30).join("\n")}`);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(addonPath) as { llamaBackward: (o: LlamaBackwardOptions & { binsDir: string }) => LlamaBackwardResult };
    loaded = (o) => addon.llamaBackward({ ...o, binsDir });
  }
  return { run: loaded };
}
