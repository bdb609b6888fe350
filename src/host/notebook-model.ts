/**
 * The model a notebook names in its metadata, `{ "steer": { "model": { "path": ..., "source"?: ... } } }`:
 * what `steer.load()` with no path loads, so that reopening the notebook loads the same file. The path is
 * relative to the notebook's folder, or absolute. Used by the extension and by `steer-nb run`.
 */
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";

export interface NotebookModelRef {
  /** relative to the notebook's folder, or absolute */
  path: string;
  /** where it came from, e.g. the `hf:` address or URL it was downloaded from */
  source?: string;
}

/** The notebook's model entry, or undefined when it names none; throws naming the problem when it is malformed. */
export function notebookModelRef(metadata: Readonly<Record<string, unknown>>): NotebookModelRef | undefined {
  const steer = metadata.steer;
  if (steer === undefined) return undefined;
  if (!isObject(steer)) throw new Error(`The notebook's metadata "steer" is ${JSON.stringify(steer)}, not an object. Fix it in a text editor, or run "Steer: Select Model".`);
  const model = steer.model;
  if (model === undefined) return undefined;
  if (!isObject(model) || typeof model.path !== "string" || model.path === "") {
    throw new Error(`The notebook's metadata "steer.model" is ${JSON.stringify(model)}; it must be { "path": "<file.gguf>" }. Fix it in a text editor, or run "Steer: Select Model".`);
  }
  return { path: model.path, ...(typeof model.source === "string" ? { source: model.source } : {}) };
}

/**
 * The absolute path of the notebook's model, or undefined when it names none. A relative path resolves
 * against the notebook's folder (`notebookPath`), else against `fallbackFolder` (an untitled notebook).
 */
export function resolveNotebookModel(metadata: Readonly<Record<string, unknown>>, notebookPath: string | undefined, fallbackFolder = process.cwd()): string | undefined {
  const ref = notebookModelRef(metadata);
  if (!ref) return undefined;
  return resolve(notebookPath ? dirname(notebookPath) : fallbackFolder, ref.path);
}

/**
 * The metadata with `steer.model` set to `modelPath` (and `source`), every other field kept. The path is
 * stored relative when the model lies in the notebook's folder or below it (the pair can move together),
 * else absolute.
 */
export function withNotebookModel(
  metadata: Readonly<Record<string, unknown>>,
  modelPath: string,
  notebookPath: string | undefined,
  source?: string,
): Record<string, unknown> {
  const steer = isObject(metadata.steer) ? metadata.steer : {};
  const previous = isObject(steer.model) ? steer.model : {};
  const { source: _oldSource, ...keep } = previous;
  const model: Record<string, unknown> = { ...keep, path: storedPath(modelPath, notebookPath), ...(source ? { source } : {}) };
  return { ...metadata, steer: { ...steer, model } };
}

function storedPath(modelPath: string, notebookPath: string | undefined): string {
  const full = resolve(modelPath);
  if (!notebookPath) return full;
  const rel = relative(dirname(notebookPath), full);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return full;
  // Forward slashes: the notebook file reads the same on every platform.
  return rel.split(sep).join("/");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
