// Models the project builds itself: random weights of any shape, and the planted toy-circuits model.
export { makeRandomModel, writeRandomModel, randomModelSpec, randomModelShape } from "./random";
export type { RandomModelOptions } from "./random";
export { ARCHS, tensorShapes, checkShape } from "./architecture";
export type { Arch, ModelShape } from "./architecture";
export { buildVocab, NAMES, WORDS, MIN_VOCAB } from "./vocab";
export type { Vocab } from "./vocab";
export { makeToyCircuits, writeToyCircuits, toyCircuitsSpec, toyCircuitsTruth, TOY_LAYOUT, TOY_HEADS, TOY_SHAPE } from "./toy-circuits";
export type { ToyCircuitsOptions } from "./toy-circuits";
