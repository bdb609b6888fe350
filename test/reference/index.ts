// The independent reference forward pass that correctness tests compare the engine against.
export { loadReferenceModel } from "./model";
export type { RefModel, RefConfig, RefArch, RefLayer } from "./model";
export { forward, hookNames, logitsAt, argmax, generateGreedy } from "./forward";
export type { Tensor, Hook, Hooks, ForwardOptions, ForwardResult } from "./forward";
