// The same end-to-end check with @vscode/test-electron, for machines that can download a VS Code build
// (it fetches one at start, so it cannot run on the offline build machines and is not part of npm test;
// test/e2e/vscode.e2e.test.ts covers them through code-server). Run: npx tsx test/e2e/electron/run.ts
import * as path from "node:path";
import { cpSync, mkdirSync } from "node:fs";
import * as esbuild from "esbuild";
import { runTests } from "@vscode/test-electron";

const repoRoot = path.resolve(import.meta.dirname, "../../..");
const out = path.join(repoRoot, ".tmp/e2e-electron");

async function main(): Promise<void> {
  // The suite runs inside VS Code's extension host, which loads CommonJS.
  await esbuild.build({
    entryPoints: [path.join(import.meta.dirname, "suite.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    external: ["vscode"],
    outfile: path.join(out, "suite.js"),
  });
  const workspace = path.join(out, "workspace");
  mkdirSync(workspace, { recursive: true });
  cpSync(path.join(repoRoot, "test/fixtures/e2e/hello.steer-nb"), path.join(workspace, "hello.steer-nb"));
  await runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: path.join(out, "suite.js"),
    launchArgs: [workspace, "--disable-extensions", "--disable-workspace-trust"],
  });
}

main().catch((e) => {
  console.error(`electron e2e failed: ${(e as Error).message}`);
  process.exit(1);
});
