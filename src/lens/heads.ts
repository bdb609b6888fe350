// steer.heads: what heads do: TransformerLens's head detectors and a layer's attention patterns.
export { detect, detectionPattern, randomRepeatedTokens } from "./detectors";
export { attention } from "./attention";
