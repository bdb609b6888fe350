/**
 * Runs cells one at a time in the kernel's global scope and reports a typed result for each.
 * A cell ends as "interrupted" either because its compiled code hit an interrupt check (busy
 * loops, see rewrite.ts) or because the interrupt message arrived while it was awaiting something
 * (the cell's promise is raced against it). Either way the interrupt flag is cleared when the cell
 * ends, and anything the cell left running stops at its next check.
 */
import vm from "node:vm";
import type { CellError, ExecuteRequest, ExecuteResult, ExecuteStatus, VariableInfo, VariableViewResult } from "../protocol";
import { compileCell, CellSyntaxError } from "./compiler";
import { toCellOutput } from "./display";
import { isLiveHandle } from "./live-output";
import {
  afterAwait,
  CELL_INTERRUPTED,
  checkInterrupt,
  clearInterrupt,
  executionContext,
  interruptFlag,
  InterruptedError,
  type ExecutionContext,
} from "./interrupt";
import type { CellModules } from "./modules";
import { emitOutput, setLatestExecution } from "./output-channel";
import { AFTER_AWAIT, CHECK, FLAG, IMPORT, IMPORT_META } from "./rewrite";
import { registerCellScript, toCellError } from "./stack-traces";
import { useNotebookModel } from "./steer-api";
import { describeVariables, viewVariable } from "./variables";

interface Running {
  context: ExecutionContext;
  interrupt: (error: InterruptedError) => void;
}

export class Executor {
  private order = 0;
  private readonly names = new Set<string>();
  private running: Running | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly modules: CellModules,
    api: Record<string, unknown>,
  ) {
    const define = (name: string, descriptor: PropertyDescriptor) =>
      Object.defineProperty(globalThis, name, { configurable: true, enumerable: false, ...descriptor });
    define(CHECK, { value: checkInterrupt, writable: false });
    define(FLAG, { value: interruptFlag, writable: false });
    define(AFTER_AWAIT, { value: afterAwait, writable: false });
    define(IMPORT, { value: modules.import, writable: false });
    define(IMPORT_META, { get: () => modules.importMeta });
    define("steer", { value: api, writable: true });
    define("display", { value: api.display, writable: true });
    define("require", { value: modules.require, writable: true });
    define("__filename", { get: () => modules.file });
    define("__dirname", { get: () => modules.folder });
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  execute(request: ExecuteRequest): Promise<ExecuteResult> {
    const result = this.chain.then(() => this.run(request));
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** The interrupt message arrived (the I/O thread has already set the flag). */
  interrupt(): void {
    if (!this.running) {
      clearInterrupt();
      return;
    }
    this.running.context.cancelled = true;
    // Raised here, not in cell code: a stack would only show the kernel's message handling.
    const error = new InterruptedError("The cell was interrupted while it was waiting (await).");
    error.stack = `${error.name}: ${error.message}`;
    this.running.interrupt(error);
  }

  variables(): VariableInfo[] {
    return describeVariables(this.names);
  }

  /** A tensor variable (or a path into one) as a heatmap slice for the variables panel. */
  variableView(name: string, slice?: number[]): VariableViewResult["outcome"] {
    return viewVariable(this.names, name, slice);
  }

  private async run(request: ExecuteRequest): Promise<ExecuteResult> {
    const order = ++this.order;
    const context: ExecutionContext = { executionId: request.executionId, cancelled: false };
    const cellFile = `cell-${request.cellIndex}.ts`;
    setLatestExecution(request.executionId);
    this.modules.setNotebook(request.notebookPath);
    useNotebookModel(request.model);

    let interrupt!: (error: InterruptedError) => void;
    const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
    interrupted.catch(() => undefined);
    this.running = { context, interrupt };

    const started = performance.now();
    let status: ExecuteStatus = "ok";
    let error: CellError | undefined;
    try {
      await executionContext.run(context, async () => {
        const compiled = await Promise.race([compileCell(request.code, cellFile), interrupted]);
        for (const name of compiled.names) this.names.add(name);
        const script = new vm.Script(compiled.code, { filename: registerCellScript(cellFile, compiled) });
        const boxed = await Promise.race([script.runInThisContext() as Promise<[unknown] | undefined>, interrupted]);
        if (boxed && boxed[0] !== undefined && !isLiveHandle(boxed[0])) emitOutput(toCellOutput(boxed[0]));
      });
    } catch (e) {
      // Cell code and the engine (llama.cpp's abort callback saw the flag) throw the same InterruptedError.
      const stopped = e instanceof InterruptedError;
      if (stopped || context.cancelled) {
        context.cancelled = true;
        status = "interrupted";
        error = stopped ? toCellError(e) : { name: "InterruptedError", message: CELL_INTERRUPTED };
      } else if (e instanceof CellSyntaxError) {
        status = "error";
        error = { name: e.name, message: e.message, stack: `${e.name}: ${e.message}\n    at ${cellFile}:${e.line}:${e.column}` };
      } else {
        status = "error";
        error = toCellError(e);
      }
    } finally {
      clearInterrupt();
      this.running = undefined;
    }
    const durationMs = Math.round(performance.now() - started);
    return { type: "result", executionId: request.executionId, status, durationMs, order, ...(error ? { error } : {}) };
  }
}
