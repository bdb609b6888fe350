// Builds native/build/Release/steer_llama.node (the engine's bridge to llama.cpp), offline:
// headers come from the llama.cpp source that node-llama-cpp ships as a git bundle, and the addon
// links the prebuilt llama.cpp libraries of @node-llama-cpp/<platform> (found again at run time
// through rpath). Runs as package.json's "install" script, so `npm ci` builds it.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const native = join(root, "native");
const vendor = join(native, "vendor", "llama.cpp");
const bundle = join(root, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
const platform = `${process.platform}-${process.arch}`;
const bins = join(root, "node_modules", "@node-llama-cpp", platform, "bins", platform);
const release = join(native, "build", "Release");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  if (r.status !== 0) {
    console.error(`build-native: ${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}

if (platform !== "linux-x64") {
  console.error(`build-native: only linux-x64 is wired up so far (this is ${platform}); the engine will be unavailable.`);
  process.exit(0);
}
if (!existsSync(bins)) {
  console.error(`build-native: prebuilt llama.cpp libraries missing at ${bins}; install node-llama-cpp 3.21.1 first.`);
  process.exit(1);
}
if (!existsSync(join(vendor, "include", "llama.h"))) {
  if (!existsSync(bundle)) {
    console.error(`build-native: ${bundle} missing; it holds the llama.cpp sources the headers come from.`);
    process.exit(1);
  }
  rmSync(vendor, { recursive: true, force: true });
  run("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", bundle, vendor]);
}

const nodeGyp = join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
// The Node headers of the running Node (its install prefix has include/node), so nothing is downloaded.
const nodedir = resolve(dirname(process.execPath), "..");
run(
  process.execPath,
  [nodeGyp, "rebuild", `--nodedir=${nodedir}`, "--", `-Dbins_dir=${bins}`, `-Dbins_rel=${relative(release, bins)}`],
  { cwd: native },
);
console.log(`build-native: built ${join(release, "steer_llama.node")}`);
