// steer.attribute: per-head outputs, direct logit attribution, the logit lens, the residual stream
// accumulated or decomposed (TransformerLens names), and attribution patching (from gradients).
export { directLogitAttribution, LogitAttribution } from "./attribution-dla";
export type { LogitAttributionOptions } from "./attribution-dla";
export { headResults, stackHeadResults } from "./attribution-heads";
export type { StackedHeadResults } from "./attribution-heads";
export { logitLens, LogitLens } from "./attribution-logit-lens";
export type { LogitLensOptions } from "./attribution-logit-lens";
export { accumulatedResid, decomposeResid, ResidComponents } from "./attribution-resid";
export type { ResidOptions, AccumulatedResidOptions, ResidInfo } from "./attribution-resid";
export type { Direction } from "./attribution-unembed";
export { attnOut, heads, mlpOut, residual } from "./attribution-patching";
export type { AttributionMethod, AttributionPatchingOptions, AttributionResidualOptions, AttributionHeadOptions } from "./attribution-patching";
export { edges, EdgeScores } from "./attribution-edges";
export type { EdgeAttributionOptions, EdgeMethod, EdgeSelection, ScoredEdge } from "./attribution-edges";
