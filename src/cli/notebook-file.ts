/** Reading a notebook for a command: the notebook, or a message that names the problem and the fix. */
import { readFileSync } from "node:fs";
import { NotebookFormatError, parseNotebook, type NotebookData } from "../protocol";

/** `formatNote` is added to a format error's message (what the command did, or did not, do to the file). */
export function readNotebook(path: string, formatNote = ""): NotebookData | string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return `${path}: no such file. Check the path (it is relative to ${process.cwd()}).`;
    if (code === "EISDIR") return `${path} is a folder; give a .steer-nb file.`;
    return `cannot read ${path}: ${(e as Error).message}`;
  }
  try {
    return parseNotebook(text, path);
  } catch (e) {
    if (e instanceof NotebookFormatError) return e.message + formatNote;
    throw e;
  }
}
