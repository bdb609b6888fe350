// The built CLI and models: `steer-nb run` loads the model the notebook's metadata names (and keeps that
// metadata), and `steer-nb download` fetches from a real server on 127.0.0.1 with progress on stderr.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { writeRandomModel } from "../../src/models";
import { parseNotebook, serializeNotebook, type NotebookData } from "../../src/protocol";
import { ModelServer } from "../host/model-server";

const repoRoot = resolve(__dirname, "../..");
const bin = join(repoRoot, "bin", "steer-nb.js");

/** Runs the CLI without blocking this process (the test's HTTP server must keep serving). */
function cli(args: string[], entry = bin): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

describe("steer-nb and the notebook's model", { timeout: 120_000 }, () => {
  let dir: string;
  let modelPath: string;
  let server: ModelServer;
  before(async () => {
    if (!existsSync(join(repoRoot, "dist", "cli.js"))) throw new Error("dist/cli.js is missing: run `npm run build` before the CLI tests.");
    dir = mkdtempSync(join(tmpdir(), "steer-nb-cli-model-"));
    mkdirSync(join(dir, "models"));
    modelPath = join(dir, "models", "tiny.gguf");
    writeRandomModel(modelPath, { arch: "llama", layers: 3, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 4 });
    server = await new ModelServer({ "/tiny.gguf": readFileSync(modelPath) }, 64 * 1024 * 1024).start();
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("run: steer.load() loads the model named in the metadata, relative to the notebook; the metadata is kept", async () => {
    const metadata = { title: "mine", steer: { model: { path: "models/tiny.gguf", source: "hf:someone/tiny" }, other: 1 } };
    const nb: NotebookData = {
      format: "steer-nb/1",
      metadata,
      cells: [{ kind: "code", language: "typescript", source: "const m = await steer.load();\n`${m.config.arch} ${m.config.nLayers} layers`", metadata: {}, outputs: [] }],
    };
    const input = join(dir, "named.steer-nb");
    writeFileSync(input, serializeNotebook(nb));
    const out = join(dir, "named.out.steer-nb");
    const r = await cli(["run", input, "--out", out]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /llama 3 layers/, `expected the notebook's llama model, got:\n${r.stdout}`);
    assert.deepEqual(parseNotebook(readFileSync(out, "utf8"), out).metadata, metadata);
  });

  test("run: malformed steer.model metadata stops before any cell, saying what to write", async () => {
    const input = join(dir, "bad.steer-nb");
    writeFileSync(input, serializeNotebook({ format: "steer-nb/1", metadata: { steer: { model: "tiny.gguf" } }, cells: [] }));
    const before = readFileSync(input, "utf8");
    const r = await cli(["run", input]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /"steer\.model" is "tiny\.gguf"; it must be \{ "path": "<file\.gguf>" \}/);
    assert.equal(readFileSync(input, "utf8"), before, "the notebook was changed");
  });

  test("download: prints the path on stdout and progress on stderr; a 404 exits 1 naming the address and status", async () => {
    const target = join(dir, "downloads");
    const r = await cli(["download", server.url("/tiny.gguf"), "--dir", target]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, join(target, "tiny.gguf") + "\n");
    assert.match(r.stderr, /MiB of [\d.]+ MiB \(100%\)/, `no final progress line on stderr:\n${r.stderr}`);
    assert.deepEqual(readFileSync(join(target, "tiny.gguf")), readFileSync(modelPath));

    const missing = server.url("/nothing.gguf");
    const bad = await cli(["download", missing, "--dir", target]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.ok(bad.stderr.includes(missing) && bad.stderr.includes("HTTP 404"), `expected the address and HTTP 404 on stderr:\n${bad.stderr}`);
    const usage = await cli(["download"]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /missing the URL or hf: address/);
  });

  test("download works from the bundles alone, with no node_modules in reach, as an installed extension runs", async () => {
    // an installed VSIX carries dist/ but none of node-llama-cpp's JavaScript: dist/model-downloader.mjs stands in
    const alone = mkdtempSync(join(tmpdir(), "steer-dist-alone-"));
    try {
      for (const f of ["cli.js", "model-downloader.mjs"]) copyFileSync(join(repoRoot, "dist", f), join(alone, f));
      const target = join(alone, "models");
      const r = await cli(["download", server.url("/tiny.gguf"), "--dir", target], join(alone, "cli.js"));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readFileSync(join(target, "tiny.gguf")), readFileSync(modelPath));
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });
});
