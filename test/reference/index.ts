// The independent reference forward and backward passes that correctness tests compare the engine against.
export { loadReferenceModel } from "./model";
export type { RefModel, RefConfig, RefArch, RefLayer } from "./model";
export { forward, hookNames, logitsAt, argmax, generateGreedy } from "./forward";
export type { Tensor, Hook, Hooks, ForwardOptions, ForwardResult } from "./forward";
export { backward } from "./backward";
export type { RefMetric, BackwardOptions, BackwardResult } from "./backward";
