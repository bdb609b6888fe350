// Shared by the kernel tests: a KernelClient on the built kernel (dist/), as the extension uses it.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { KernelClient, type ExecuteOutcome, type KernelStartOptions } from "../../src/host";
import type { CellOutput } from "../../src/protocol";

export const repoRoot = resolve(__dirname, "../..");
export const kernelPath = join(repoRoot, "dist", "kernel.js");

export function newClient(options: KernelStartOptions = {}): KernelClient {
  if (!existsSync(kernelPath)) throw new Error(`${kernelPath} is missing: run \`npm run build\` before the kernel tests.`);
  return new KernelClient({ kernelPath, cwd: repoRoot, ...options });
}

export interface CellRun {
  outcome: ExecuteOutcome;
  outputs: CellOutput[];
  /** Every text-like item, joined: stdout, stderr, text/plain. */
  text: string;
}

let nextCell = 1;

export async function runCell(client: KernelClient, code: string, extra: { notebookPath?: string; model?: string; timeoutMs?: number } = {}): Promise<CellRun> {
  const outputs: CellOutput[] = [];
  const cellIndex = nextCell++;
  const outcome = await client.execute({ cellId: `c${cellIndex}`, cellIndex, code, notebookPath: extra.notebookPath, model: extra.model }, (o) => outputs.push(o), {
    timeoutMs: extra.timeoutMs,
  });
  return { outcome, outputs, text: textOf(outputs) };
}

export function textOf(outputs: CellOutput[]): string {
  return outputs
    .flatMap((o) => o.items)
    .filter((i) => typeof i.data === "string" && (i.mime === "text/plain" || i.mime.startsWith("application/vnd.code.notebook.std")))
    .map((i) => i.data as string)
    .join("");
}

/** The outcome's error as `Name: message`, or "" when it has none (for assertion messages). */
export function errorOf(outcome: ExecuteOutcome): string {
  return "error" in outcome ? `${outcome.error.name}: ${outcome.error.message}` : "";
}

/** Fails with the cell's error when it did not succeed, so a broken case says why. */
export function assertOk(run: CellRun, code: string): void {
  if (run.outcome.status !== "ok") {
    const error = "error" in run.outcome ? run.outcome.error : undefined;
    throw new Error(`cell failed (${run.outcome.status}): ${error?.stack ?? error?.message}\n--- code ---\n${code}`);
  }
}
