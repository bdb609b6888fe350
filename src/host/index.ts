export { KernelClient, type KernelStartOptions, type ExecuteInput, type ExecuteOptions, type OutputCallback } from "./kernel-client";
export type { ExecuteOutcome, InterruptOutcome, KernelLogEntry, KernelState, LateOutput, StartOutcome, VariablesOutcome, VariableViewOutcome } from "./outcomes";
export type { Disposable, Event } from "./emitter";
