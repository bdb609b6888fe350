// llama.cpp's log goes to the engine's buffer (model.logs(), llamaLog()), never to stderr.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { skipStories, stories } from "./helpers";

test("loading, running and quantizing write nothing to stderr; the log is captured instead", { skip: skipStories }, () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "fixtures", "load-quietly.ts"), stories], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const { lines } = JSON.parse(r.stdout);
  assert.ok(lines > 20, `only ${lines} llama.cpp log lines were captured`);
});
