// Interrupt, restart, kernel death and shutdown: each ends in a typed outcome, never hangs, and the
// kernel keeps its state when an interrupt was enough.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExecuteOutcome, KernelClient, KernelState } from "../../src/host";
import { assertOk, errorOf, kernelPath, newClient, repoRoot, runCell } from "./harness";

/** Starts `code`, waits until its first output (so it is surely running), then interrupts it. */
async function interruptAfterStart(client: KernelClient, code: string): Promise<{ outcome: ExecuteOutcome; elapsedMs: number; started: number }> {
  let markRunning!: () => void;
  const running = new Promise<void>((r) => (markRunning = r));
  const result = client.execute({ cellId: "busy", cellIndex: 3, code: `console.log("started");\n${code}` }, () => markRunning());
  await running;
  const started = Date.now();
  const interrupt = client.interrupt();
  const outcome = await result;
  const elapsedMs = Date.now() - started;
  assert.deepEqual(await interrupt, { status: "interrupted" });
  return { outcome, elapsedMs, started };
}

describe("kernel lifecycle", { timeout: 60_000 }, () => {
  // Busy code the interrupt must stop, each in a form that once escaped simpler schemes.
  const busyCells: { name: string; code: string }[] = [
    { name: "while (true) {}", code: "while (true) {}" },
    { name: "for (;;) with a single-statement body", code: "let n = 0;\nfor (;;) n++;" },
    { name: "try/catch inside the loop cannot swallow it", code: "while (true) { try { for (;;) {} } catch (e) { /* swallowed? */ } }" },
    { name: "recursion-free busy function called in a loop", code: "const spin = (): number => 1;\nwhile (true) spin();" },
    { name: "do-while in a callback", code: "[1].forEach(() => { do {} while (true); });" },
    { name: "an awaited promise that never settles", code: "await new Promise(() => {});" },
  ];
  for (const busy of busyCells) {
    test(`interrupt stops ${busy.name} within 1 s and keeps state`, async () => {
      const client = newClient();
      try {
        assertOk(await runCell(client, "const kept: string = 'still here';"), "setup");
        const { outcome, elapsedMs } = await interruptAfterStart(client, busy.code);
        assert.equal(outcome.status, "interrupted", errorOf(outcome));
        assert.ok(elapsedMs < 1000, `interrupt took ${elapsedMs} ms`);
        const after = await runCell(client, "kept");
        assertOk(after, "kept");
        assert.equal(after.text, "still here");
      } finally {
        await client.dispose();
      }
    });
  }

  test("an interrupted cell's leftover timer stops at its next check", async () => {
    const client = newClient();
    try {
      const code = "let ticks = 0;\nsetInterval(() => { ticks++; }, 5);\nawait new Promise(() => {});";
      const { outcome } = await interruptAfterStart(client, code);
      assert.equal(outcome.status, "interrupted");
      const first = await runCell(client, "await new Promise((r) => setTimeout(r, 50)); ticks");
      const second = await runCell(client, "await new Promise((r) => setTimeout(r, 50)); ticks");
      assert.equal(first.text, second.text, "ticks must not grow after the interrupt");
    } finally {
      await client.dispose();
    }
  });

  test("an interrupted cell does not go on when the promise it awaited settles later", async () => {
    const client = newClient();
    try {
      const code = "let resumed = false;\nawait new Promise((r) => setTimeout(r, 200));\nresumed = true;";
      const { outcome } = await interruptAfterStart(client, code);
      assert.equal(outcome.status, "interrupted");
      const later = await runCell(client, "await new Promise((r) => setTimeout(r, 400)); resumed");
      assertOk(later, "resumed");
      assert.equal(later.text, "false");
    } finally {
      await client.dispose();
    }
  });

  test("restart gives a fresh kernel without the old state", async () => {
    const client = newClient();
    try {
      assertOk(await runCell(client, "const before = 1;"), "setup");
      const oldPid = client.pid;
      assert.equal((await client.restart()).status, "ready");
      assert.notEqual(client.pid, oldPid);
      const after = await runCell(client, "typeof before");
      assert.equal(after.text, "undefined");
    } finally {
      await client.dispose();
    }
  });

  test("a kernel killed from outside ends the running cell with an error saying so; the next run starts a new kernel", async () => {
    const client = newClient();
    const states: KernelState[] = [];
    client.onDidChangeState((s) => states.push(s));
    try {
      assertOk(await runCell(client, "const doomed = 1;"), "setup");
      let markRunning!: () => void;
      const running = new Promise<void>((r) => (markRunning = r));
      const result = client.execute({ cellId: "x", cellIndex: 3, code: 'console.log("waiting");\nawait new Promise(() => {});' }, () => markRunning());
      await running;
      const pid = client.pid!;
      process.kill(pid, "SIGKILL");
      const outcome = await result;
      assert.equal(outcome.status, "kernel-died");
      assert.equal(
        errorOf(outcome),
        "KernelDiedError: The kernel process exited unexpectedly (signal SIGKILL) while running cell 3; the next run starts a new kernel.",
      );
      assert.equal(client.state, "dead");
      const next = await runCell(client, "typeof doomed");
      assertOk(next, "typeof doomed");
      assert.equal(next.text, "undefined");
      assert.notEqual(client.pid, pid);
      assert.deepEqual(states, ["starting", "busy", "idle", "busy", "dead", "starting", "busy", "idle"]);
    } finally {
      await client.dispose();
    }
  });

  test("a cell stuck where no check runs is stopped by killing the kernel after the grace period", async () => {
    const client = newClient({ interruptGraceMs: 300 });
    try {
      // Atomics.wait blocks the main thread in native code: no interrupt check can run.
      let markRunning!: () => void;
      const running = new Promise<void>((r) => (markRunning = r));
      const code = 'console.log("go");\nAtomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);';
      const result = client.execute({ cellId: "n", cellIndex: 1, code }, () => markRunning());
      await running;
      assert.deepEqual(await client.interrupt(), { status: "killed" });
      const outcome = await result;
      assert.equal(outcome.status, "interrupted");
      assert.match(errorOf(outcome), /did not stop within 0.3 s of the interrupt, so the kernel was stopped/);
      assertOk(await runCell(client, "1"), "after the kill");
    } finally {
      await client.dispose();
    }
  });

  test("a per-cell timeout interrupts and reports timeout with where the cell was", async () => {
    const client = newClient();
    try {
      assertOk(await runCell(client, "1"), "warm-up: the first cell also starts the compiler");
      const run = await runCell(client, "let spin = 0;\n\nwhile (true) { spin++; }", { timeoutMs: 1500 });
      assert.equal(run.outcome.status, "timeout");
      const error = (run.outcome as { error: { message: string; stack?: string } }).error;
      assert.match(error.message, /ran longer than its 1.5 s limit and was interrupted/);
      assert.match(error.stack ?? "", /at cell-\d+\.ts:3:/);
    } finally {
      await client.dispose();
    }
  });

  test("interrupt cancels queued cells; interrupt with nothing running says so", async () => {
    const client = newClient();
    try {
      assert.deepEqual(await client.interrupt(), { status: "not-running" });
      let markRunning!: () => void;
      const running = new Promise<void>((r) => (markRunning = r));
      const first = client.execute({ cellId: "a", cellIndex: 1, code: 'console.log("go");\nwhile (true) {}' }, () => markRunning());
      const queued = client.execute({ cellId: "b", cellIndex: 2, code: "1" }, () => undefined);
      await running;
      await client.interrupt();
      assert.equal((await first).status, "interrupted");
      assert.equal((await queued).status, "cancelled");
    } finally {
      await client.dispose();
    }
  });

  test("shutdown of a kernel stuck in native code finishes (killed after the grace period); dispose is idempotent", async () => {
    const client = newClient({ shutdownGraceMs: 300 });
    let markRunning!: () => void;
    const running = new Promise<void>((r) => (markRunning = r));
    const stuck = client.execute(
      { cellId: "s", cellIndex: 1, code: 'console.log("go");\nAtomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);' },
      () => markRunning(),
    );
    await running;
    await client.shutdown();
    assert.equal((await stuck).status, "cancelled");
    assert.equal(client.state, "dead");
    await client.dispose();
    await client.dispose();
    assert.equal((await runCell(client, "1")).outcome.status, "cancelled");
  });

  test("a kernel whose host dies exits by itself, even in a busy loop (no orphans)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "steer-nb-orphan-"));
    const script = join(dir, "host.js");
    writeFileSync(
      script,
      `const { KernelClient } = require(${JSON.stringify(join(repoRoot, "src", "host", "index.ts"))});
const client = new KernelClient({ kernelPath: ${JSON.stringify(kernelPath)} });
client.execute({ cellId: "x", cellIndex: 1, code: 'console.log("go"); while (true) {}' }, () => console.log("PID " + client.pid));`,
    );
    const host = spawn(process.execPath, ["--import", "tsx", script], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
    try {
      let out = "";
      host.stdout.setEncoding("utf8");
      while (!/PID \d+/.test(out)) out += (await once(host.stdout, "data"))[0];
      const kernelPid = Number(/PID (\d+)/.exec(out)![1]);
      host.kill("SIGKILL");
      const alive = () => {
        try {
          process.kill(kernelPid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 50 && alive(); i++) await sleep(100);
      assert.equal(alive(), false, `kernel ${kernelPid} still runs 5 s after its host died`);
    } finally {
      host.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a kernel that cannot start gives start-failed, not a hang", async () => {
    const client = newClient({ execPath: "/nonexistent/node" });
    try {
      const run = await runCell(client, "1");
      assert.equal(run.outcome.status, "start-failed");
      assert.match(errorOf(run.outcome), /ENOENT/);
    } finally {
      await client.dispose();
    }
  });
});
