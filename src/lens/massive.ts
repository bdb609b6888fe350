// steer.massive: massive activations (Sun et al. 2024), the scan and the ablation.
export { scan, MassiveScan } from "./massive-scan";
export type { ScanOptions, ResidHook } from "./massive-scan";
export { ablate, MassiveAblation } from "./massive-ablate";
export type { AblateOptions, AblatedValue, TextLoss } from "./massive-ablate";
export type { MassiveEntry } from "../protocol";
