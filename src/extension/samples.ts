/** The shipped sample notebooks and the new-notebook content; no vscode here, so tests can import it. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { emptyNotebook, parseNotebook, serializeNotebook, type NotebookData } from "../protocol";

export interface SampleNotebook {
  /** file name, e.g. "induction.steer-nb" */
  file: string;
  path: string;
  /** metadata.title, else the file name without its extension */
  title: string;
  /** the first paragraph of the first markdown cell after its heading, on one line ("" if none) */
  description: string;
}

/** The samples/*.steer-nb files of the extension folder, the getting-started one first, then by title. */
export function listSamples(extensionPath: string): SampleNotebook[] {
  const dir = join(extensionPath, "samples");
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".steer-nb"));
  } catch {
    throw new Error(`No samples folder at ${dir}: the extension is incomplete; reinstall it.`);
  }
  const samples = files.map((file) => {
    const path = join(dir, file);
    const nb = parseNotebook(readFileSync(path, "utf8"), path);
    const title = typeof nb.metadata.title === "string" && nb.metadata.title ? nb.metadata.title : file.replace(/\.steer-nb$/, "");
    return { file, path, title, description: firstParagraph(nb) };
  });
  const rank = (s: SampleNotebook) => (s.file === "getting-started.steer-nb" ? 0 : 1);
  return samples.sort((a, b) => rank(a) - rank(b) || a.title.localeCompare(b.title));
}

function firstParagraph(nb: NotebookData): string {
  const md = nb.cells.find((c) => c.kind === "markdown");
  if (!md) return "";
  const paragraph = md.source.split(/\n\s*\n/).find((p) => p.trim() && !p.trimStart().startsWith("#"));
  return (paragraph ?? "").replace(/\s+/g, " ").trim();
}

/** `file`, or `name-2.steer-nb`, `name-3.steer-nb`... : the first name not in `taken`, so a copy never overwrites. */
export function freeFileName(file: string, taken: ReadonlySet<string>): string {
  if (!taken.has(file)) return file;
  const stem = file.replace(/\.steer-nb$/, "");
  for (let i = 2; ; i++) {
    const name = `${stem}-${i}.steer-nb`;
    if (!taken.has(name)) return name;
  }
}

export const NEW_NOTEBOOK_LOAD = "const model = await steer.load(); // the notebook's model (Steer: Select Model), else the bundled one";

/** A new notebook: a markdown cell saying where to start, and a code cell that loads the model. */
export function newNotebook(): NotebookData {
  const intro = [
    "# Untitled",
    "",
    "Cells are TypeScript with top-level `await`; the global `steer` is the API (README, \"The cell API\" and",
    "\"The toolkit\"). `steer.load()` loads the model this notebook names (\"Steer: Select Model\" picks a local GGUF,",
    "\"Steer: Download Model\" fetches one by URL or `hf:` address), else the bundled toy-circuits model;",
    "`steer.load(\"path/to/model.gguf\")` loads a `llama`, `qwen2` or `gpt2` GGUF directly. \"Steer: Open Sample",
    "Notebook\" shows worked examples.",
  ].join("\n");
  return {
    ...emptyNotebook(),
    cells: [
      { kind: "markdown", language: "markdown", source: intro, metadata: {}, outputs: [] },
      { kind: "code", language: "typescript", source: `${NEW_NOTEBOOK_LOAD}\nmodel.config`, metadata: {}, outputs: [] },
    ],
  };
}

/** The new notebook as file text, byte-stable through the format's serializer. */
export function newNotebookText(): string {
  return serializeNotebook(newNotebook());
}
