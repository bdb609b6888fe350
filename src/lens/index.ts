// The interpretability toolkit on top of the engine: the field's methods as one library. This file is
// the public export list; the kernel exposes it as steer.metrics, steer.patch, steer.attribute,
// steer.heads, steer.circuit, steer.massive and steer.steering.
export { LensResult, findResult, KERNEL_SESSION } from "./result";
export { promptList, tokenizePrompts, tokenizePairs } from "./inputs";
export type { Prompt, Prompts, TokenizedPrompt } from "./inputs";
export * as metrics from "./metrics";
export type { Metric, MetricLike, MetricSpec, TokenSpec, TokenChoice, BoundMetric } from "./metrics";
export * as steering from "./steering";
export { SteeringVector } from "./steering";
export type { SteeringMethod, ContrastPair, ContrastOptions, SteeringHookOptions, SteeringVectorInit } from "./steering";
export * as massive from "./massive";
export { MassiveScan, MassiveAblation } from "./massive";
export type { ScanOptions as MassiveScanOptions, AblateOptions as MassiveAblateOptions } from "./massive";
export * as patch from "./patching";
export type { ResidualOptions, HeadOptions, HeadComponent, ResidualPoint, SweepSpec } from "./patching";
export type { ExperimentOptions, Mode } from "./experiment";
export { HeadScores, PositionScores, ComponentScores } from "./scores";
export type { RerunOutcome, RankedHead, RankedCell, RankBy } from "./scores";
export * as attribute from "./attribution";
export { LogitAttribution, LogitLens, ResidComponents, EdgeScores } from "./attribution";
export type { LogitAttributionOptions, StackedHeadResults, LogitLensOptions, ResidOptions, AccumulatedResidOptions, ResidInfo, Direction, AttributionMethod, AttributionPatchingOptions, AttributionResidualOptions, EdgeAttributionOptions, EdgeMethod, EdgeSelection, ScoredEdge } from "./attribution";
export * as heads from "./heads";
export type { DetectorKind, DetectOptions, RepeatedTokensOptions } from "./detectors";
export { AttentionPatterns } from "./attention";
export type { AttentionOptions, AttendedKey } from "./attention";
export type { PathOptions, Sender, Receiver } from "./paths";
export * as circuit from "./circuits";
export type { DiscoverOptions, DiscoverMethod } from "./circuit-discovery";
export { Circuit, circuitNodes, circuitEdges } from "./circuit";
export type { CircuitInit, CircuitNodeInit, CircuitEdgeInit, CircuitCfg } from "./circuit";
export { edgeName } from "./circuit-export";
export type { CircuitFormat } from "./circuit-export";
