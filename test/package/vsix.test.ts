// The VSIX a user installs: it carries what the kernel needs at run time (bundles, native addon,
// llama.cpp libraries, esbuild, the bundled model, the cell types and their TypeScript plugin) and
// nothing heavy it does not (node-llama-cpp's JavaScript, its source bundle, CUDA/Vulkan builds).
// The sample notebook then runs from the unpacked package alone.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { parseNotebook } from "../../src/protocol";

const repoRoot = path.resolve(__dirname, "../..");
const unzip = ["/usr/bin/unzip", "/bin/unzip"].find(existsSync);
const skip = unzip ? false : "skipped: needs unzip (apt-get install unzip), which keeps the files' executable bits as VS Code's installer does";

let dir: string;
let ext: string;
before(() => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), "steer-vsix-"));
  const vsix = path.join(dir, "steer.vsix");
  const packed = spawnSync(process.execPath, ["scripts/package-vsix.mjs", "--no-build", "--out", vsix], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(packed.status, 0, `npm run package failed:\n${packed.stdout}\n${packed.stderr}`);
  const unpacked = spawnSync(unzip!, ["-q", vsix, "-d", dir], { encoding: "utf8" });
  assert.equal(unpacked.status, 0, unpacked.stderr);
  ext = path.join(dir, "extension");
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function files(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const p = path.join(root, name);
    return statSync(p).isDirectory() ? files(p) : [path.relative(ext, p)];
  });
}

test("the VSIX holds the run-time files and leaves the heavy ones out", { skip }, () => {
  const all = files(ext);
  for (const needed of [
    "dist/extension.js", "dist/kernel.js", "dist/kernel-io.js", "dist/renderers/heads.js", "dist/types/steer-nb.d.ts",
    "native/build/Release/steer_llama.node", "samples/models/toy-circuits.gguf", "samples/getting-started.steer-nb",
    "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so", "node_modules/esbuild/lib/main.js",
    "node_modules/@esbuild/linux-x64/bin/esbuild", "node_modules/steer-nb-ts-plugin/index.js",
    "dist/model-downloader.mjs", "docs/screenshot-indirect-object.png",
  ]) assert.ok(all.includes(needed), `${needed} is missing from the VSIX`);
  const unwanted = all.filter((f) => /^(src|test|scripts)\/|node_modules\/node-llama-cpp\/|linux-x64-(cuda|vulkan)|\.map$|gitRelease\.bundle/.test(f));
  assert.deepEqual(unwanted, [], "files the VSIX should not carry");
  const mb = all.reduce((n, f) => n + statSync(path.join(ext, f)).size, 0) / 2 ** 20;
  assert.ok(mb < 80, `the unpacked extension is ${mb.toFixed(1)} MB`);
});

test("the sample notebook runs headless from the unpacked VSIX alone", { skip }, () => {
  const out = path.join(dir, "out.steer-nb");
  const r = spawnSync(process.execPath, [path.join(ext, "dist/cli.js"), "run", path.join(ext, "samples/getting-started.steer-nb"), "--out", out], {
    cwd: dir,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `steer-nb run failed:\n${r.stdout}\n${r.stderr}`);
  const nb = parseNotebook(readFileSync(out, "utf8"), out);
  const code = nb.cells.filter((c) => c.kind === "code");
  assert.ok(code.length >= 5);
  for (const [i, c] of code.entries()) assert.equal(c.execution?.success, true, `code cell ${i + 1} did not succeed`);
  const provenance = JSON.stringify(code[0].outputs);
  assert.ok(provenance.includes(path.join(ext, "samples/models/toy-circuits.gguf")), "the bundled model was loaded from the package");
});
