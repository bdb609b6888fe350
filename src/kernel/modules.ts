/**
 * `import` and `require` for cells, resolved as a Node program living in the notebook's folder
 * would resolve them: built-ins, packages installed beside the notebook, relative paths. The
 * specifier `steer-nb` gives the cell API.
 */
import { builtinModules, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

export const CELL_API_MODULE = "steer-nb";

// A real dynamic import: a literal `import()` here would be rewritten into `require` by the bundler.
const nativeImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<Record<string, unknown>>;

export class CellModules {
  private base = process.cwd();
  private notebookPath: string | undefined;
  private requireFn = createRequire(join(this.base, "notebook.steer-nb"));

  constructor(private readonly apiModule: () => Record<string, unknown>) {}

  /** Resolution starts in the notebook's folder (or the kernel's working directory without one). */
  setNotebook(notebookPath: string | undefined): void {
    if (notebookPath === this.notebookPath) return;
    this.notebookPath = notebookPath;
    this.base = notebookPath ? dirname(notebookPath) : process.cwd();
    this.requireFn = createRequire(notebookPath ?? join(this.base, "notebook.steer-nb"));
  }

  get folder(): string {
    return this.base;
  }

  get file(): string {
    return this.notebookPath ?? join(this.base, "notebook.steer-nb");
  }

  readonly require = (id: string): unknown => {
    if (id === CELL_API_MODULE) return this.apiModule();
    return this.requireFn(id);
  };

  readonly import = async (specifier: string): Promise<Record<string, unknown>> => {
    if (specifier === CELL_API_MODULE) return this.apiModule();
    if (specifier.startsWith("node:") || builtinModules.includes(specifier)) return nativeImport(specifier);
    if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) && !/^[a-z]:[\\/]/i.test(specifier)) return nativeImport(specifier);
    let resolved: string;
    try {
      resolved = this.requireFn.resolve(specifier);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "MODULE_NOT_FOUND") {
        const err = new Error(
          `Cannot find module "${specifier}" from ${this.base}. Install it beside the notebook (npm install ${specifier} in that folder) or use a path relative to the notebook.`,
        );
        (err as NodeJS.ErrnoException).code = code;
        throw err;
      }
      throw e;
    }
    return withCommonJsNames(await nativeImport(pathToFileURL(resolved).href));
  };

  get importMeta(): { url: string; filename: string; dirname: string } {
    return { url: pathToFileURL(this.file).href, filename: this.file, dirname: this.base };
  }
}

/**
 * Node finds named exports of a CommonJS module only when it can see them statically; a notebook
 * user writing `import { f } from "./helper.cjs"` expects `module.exports.f` regardless (as
 * TypeScript and bundlers give). Names the module really exports win.
 */
function withCommonJsNames(namespace: Record<string, unknown>): Record<string, unknown> {
  const fallback = namespace.default;
  if (fallback === null || typeof fallback !== "object") return namespace;
  return { ...(fallback as Record<string, unknown>), ...namespace };
}
