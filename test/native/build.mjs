// Builds test/native/build/Release/llama_backward.node, a test-only addon that runs llama.cpp's own
// training graph (test/engine/llama-backward.test.ts compares model.gradients with it). Same headers
// and prebuilt libraries as scripts/build-native.mjs, but its own build folder, so it never touches
// the engine's addon in native/build. Exits non-zero, with the reason on stderr, when it cannot build.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const vendor = join(root, "native", "vendor", "llama.cpp");
const platform = `${process.platform}-${process.arch}`;
const bins = join(root, "node_modules", "@node-llama-cpp", platform, "bins", platform);
const release = join(here, "build", "Release");

function fail(why) {
  console.error(`test/native/build: ${why}`);
  process.exit(1);
}

if (platform !== "linux-x64") fail(`only linux-x64 is wired up (this is ${platform}), as for the engine's addon.`);
if (!existsSync(bins)) fail(`prebuilt llama.cpp libraries missing at ${bins}; run npm ci first.`);
// scripts/build-native.mjs (npm ci's install step) unpacks the headers; this build reuses them.
if (!existsSync(join(vendor, "include", "llama.h"))) fail(`llama.cpp headers missing at ${vendor}; run node scripts/build-native.mjs (or npm ci) first.`);

const nodeGyp = join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
// The Node headers of the running Node (its install prefix has include/node), so nothing is downloaded.
const nodedir = resolve(dirname(process.execPath), "..");
const r = spawnSync(
  process.execPath,
  [nodeGyp, "rebuild", `--nodedir=${nodedir}`, "--", `-Dbins_dir=${bins}`, `-Dbins_rel=${relative(release, bins)}`],
  { cwd: here, stdio: "inherit" },
);
if (r.status !== 0) fail(`node-gyp rebuild failed (${r.error?.message ?? `exit ${r.status}`})`);
console.log(`test/native/build: built ${join(release, "llama_backward.node")}`);
