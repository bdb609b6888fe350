// Downloads through node-llama-cpp's downloader (ipull) from a real HTTP server on 127.0.0.1 that serves a
// generated GGUF slowly, with Range support, and counts every byte it sends: completion, cancel, resume
// (proved by the bytes served), HTTP errors and non-GGUF bodies, and the documented default folder.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { load } from "../../src/engine";
import { addressProblem, defaultModelsFolder, downloadModel, type DownloadProgress } from "../../src/host/model-download";
import { writeRandomModel } from "../../src/models";
import { ModelServer } from "./model-server";

let dir: string;
let model: Buffer;
let server: ModelServer;

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

describe("downloadModel", { timeout: 120_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "steer-download-"));
    const source = join(dir, "source.gguf");
    // About 27 MB: more than five of ipull's 5 MiB chunks, so a download cancelled midway has whole chunks to keep.
    writeRandomModel(source, { arch: "llama", layers: 2, heads: 8, dModel: 512, dMlp: 2048, seed: 7 });
    model = readFileSync(source);
    const page = Buffer.from("<!doctype html><title>Sign in</title><p>Sign in to download this model.</p>\n");
    server = await new ModelServer({ "/model.gguf": model, "/second.gguf": model, "/page.gguf": page }).start();
  });

  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a download completes byte for byte, reports progress, and the engine loads the file", async () => {
    const out = join(dir, "complete");
    const progress: DownloadProgress[] = [];
    const outcome = await downloadModel(server.url("/second.gguf"), { dir: out, onProgress: (p) => progress.push(p) });
    assert.equal(outcome.status, "done", JSON.stringify(outcome));
    assert.ok(outcome.status === "done");
    assert.equal(outcome.path, join(out, "second.gguf"));
    const got = readFileSync(outcome.path);
    assert.equal(got.length, model.length, `expected ${model.length} bytes, got ${got.length}`);
    assert.equal(sha(got), sha(model), "the downloaded file differs from the served one");
    assert.ok(progress.length >= 2, `expected several progress reports, got ${progress.length}`);
    const last = progress.at(-1)!;
    assert.equal(last.totalBytes, model.length, `progress total: expected ${model.length}, got ${last.totalBytes}`);
    assert.ok(progress.some((p) => p.percent !== undefined && p.percent > 0 && p.percent < 100), "no progress report between 0 and 100 %");
    const m = await load(outcome.path, { contextSize: 64, threads: 1 });
    try {
      assert.equal(m.config.arch, "llama");
      assert.equal(m.config.nLayers, 2);
    } finally {
      m.dispose();
    }
  });

  test("a cancelled download keeps its partial file; the same address again resumes with ranged requests", async () => {
    const out = join(dir, "resume");
    const controller = new AbortController();
    let lastSeen = 0;
    const firstFrom = server.served.length;
    const first = await downloadModel(server.url("/model.gguf"), {
      dir: out,
      signal: controller.signal,
      onProgress: ({ downloadedBytes }) => {
        lastSeen = downloadedBytes;
        if (downloadedBytes > 0.65 * model.length) controller.abort();
      },
    });
    assert.equal(first.status, "cancelled", JSON.stringify(first));
    assert.ok(first.status === "cancelled");
    // Whole 5 MiB chunks are kept: past 65 %, with at most three chunks in flight, at least two have finished.
    assert.ok(first.partialBytes >= 2 * 5 * 1024 * 1024 && first.partialBytes < model.length, `partialBytes: expected at least 2 chunks (${2 * 5 * 1024 * 1024}) and under ${model.length}, got ${first.partialBytes} (last progress ${lastSeen})`);
    assert.equal(first.partialPath, join(out, "model.gguf.ipull"));
    assert.ok(existsSync(first.partialPath!), `the partial file ${first.partialPath} is gone`);
    assert.ok(!existsSync(join(out, "model.gguf")), "a cancelled download left a final file");
    const servedFirst = server.rangeBytes("/model.gguf", firstFrom);

    const secondFrom = server.served.length;
    const second = await downloadModel(server.url("/model.gguf"), { dir: out });
    assert.equal(second.status, "done", JSON.stringify(second));
    assert.ok(second.status === "done");
    const got = readFileSync(second.path);
    assert.equal(sha(got), sha(model), `the resumed file differs from the served one (${got.length} bytes, expected ${model.length})`);
    assert.ok(!existsSync(first.partialPath!), "the partial file was not renamed into place");
    const ranged = server.ranged("/model.gguf", secondFrom);
    assert.ok(ranged.length > 0, "the second download made no Range request");
    const asked = ranged.reduce((a, s) => {
      const [from, to] = s.range!.replace("bytes=", "").split("-").map(Number);
      return a + to - from + 1;
    }, 0);
    assert.ok(asked < model.length, `the second download asked for ${asked} bytes in ranges, expected fewer than the file's ${model.length}: ${ranged.map((s) => s.range).join(", ")}`);
    const servedSecond = server.rangeBytes("/model.gguf", secondFrom);
    assert.ok(servedSecond < model.length, `resume served ${servedSecond} bytes of data, expected fewer than the file's ${model.length}`);
    assert.equal(servedSecond, model.length - first.partialBytes, `resume: expected exactly the bytes not kept (${model.length} - ${first.partialBytes}), got ${servedSecond}`);
    console.log(`first run: ${servedFirst} bytes in ranges, kept ${first.partialBytes}; resume: ${servedSecond} bytes in ${ranged.length} ranges (${ranged.map((s) => s.range).join(", ")}); file ${model.length}`);
  });

  test("an HTTP 404 fails with the address and the status", async () => {
    const url = server.url("/missing.gguf");
    const outcome = await downloadModel(url, { dir: join(dir, "missing") });
    assert.equal(outcome.status, "failed", JSON.stringify(outcome));
    assert.ok(outcome.status === "failed");
    assert.ok(outcome.message.includes(url), `the message does not name ${url}: ${outcome.message}`);
    assert.match(outcome.message, /HTTP 404/, `the message does not give the status: ${outcome.message}`);
  });

  test("a body that is not GGUF fails naming the address and the reason, and is deleted", async () => {
    const url = server.url("/page.gguf");
    const out = join(dir, "page");
    const outcome = await downloadModel(url, { dir: out });
    assert.equal(outcome.status, "failed", JSON.stringify(outcome));
    assert.ok(outcome.status === "failed");
    assert.ok(outcome.message.includes(url), `the message does not name ${url}: ${outcome.message}`);
    assert.match(outcome.message, /not a GGUF model file/, outcome.message);
    assert.ok(!existsSync(join(out, "page.gguf")), "the non-GGUF download was kept");
  });

  test("an address that is neither a URL nor hf: fails before any request", async () => {
    const before = server.served.length;
    const outcome = await downloadModel("models/gpt2.gguf", { dir: join(dir, "bad") });
    assert.equal(outcome.status, "failed");
    assert.ok(outcome.status === "failed");
    assert.match(outcome.message, /neither an http\(s\) URL nor a Hugging Face address/);
    assert.equal(server.served.length, before, "a request was made for a bad address");
    assert.equal(addressProblem("hf:user/repo/file.gguf"), undefined);
    assert.equal(addressProblem("hf:user/repo:Q8_0"), undefined);
    assert.equal(addressProblem("https://example.com/m.gguf"), undefined);
  });
});

describe("defaultModelsFolder", () => {
  test("is ~/.cache/steer-nb/models, under XDG_CACHE_HOME when that is set (and absolute)", () => {
    assert.equal(defaultModelsFolder({}, "/home/ada"), "/home/ada/.cache/steer-nb/models");
    assert.equal(defaultModelsFolder({ XDG_CACHE_HOME: "/var/cache/ada" }, "/home/ada"), "/var/cache/ada/steer-nb/models");
    assert.equal(defaultModelsFolder({ XDG_CACHE_HOME: "relative/cache" }, "/home/ada"), "/home/ada/.cache/steer-nb/models");
    assert.equal(defaultModelsFolder({ XDG_CACHE_HOME: "" }, "/home/ada"), "/home/ada/.cache/steer-nb/models");
  });
});
