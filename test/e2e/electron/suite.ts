// Runs inside VS Code (loaded by run.ts through @vscode/test-electron): opens the e2e fixture, runs
// every cell with the Steer kernel and checks the outputs that reached the notebook document.
import * as assert from "node:assert/strict";
import * as vscode from "vscode";

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, "VS Code was started without the workspace folder");
  const doc = await vscode.workspace.openNotebookDocument(vscode.Uri.joinPath(folder.uri, "hello.steer-nb"));
  await vscode.window.showNotebookDocument(doc);
  await vscode.commands.executeCommand("notebook.selectKernel", { id: "steer-typescript-kernel", extension: "steer.steer-notebooks" });
  await vscode.commands.executeCommand("notebook.execute");

  const text = (i: number) =>
    doc.cellAt(i).outputs.flatMap((o) => o.items.map((it) => new TextDecoder().decode(it.data))).join("");
  const deadline = Date.now() + 120_000;
  while (!text(4).includes("boom from cell 5")) {
    if (Date.now() > deadline) throw new Error(`cells did not finish; outputs so far: ${[1, 2, 3, 4].map(text).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(text(1), "hello from the kernel\nsecond line\n");
  assert.ok(text(2).includes("display says hi"), text(2));
  assert.ok(doc.cellAt(2).outputs.some((o) => o.items.some((it) => it.mime === "application/vnd.steer.tensor+json")));
  assert.equal(doc.cellAt(4).executionSummary?.success, false);
}
