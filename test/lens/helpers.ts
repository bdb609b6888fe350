// Shared setup for the lens tests: the test models, the planted heads, and IOI prompts of equal length.
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../engine/helpers";

export { repoRoot, skipStories, stories } from "../engine/helpers";
export const bundled = path.join(repoRoot, "samples", "models", "toy-circuits.gguf");
export const truth = JSON.parse(readFileSync(path.join(repoRoot, "samples", "models", "toy-circuits.truth.json"), "utf8"));

/** The planted heads, by role. */
export const truthHeads = {
  previousToken: truth.induction.previousTokenHead as string,
  induction: truth.induction.inductionHead as string,
  duplicate: truth.indirectObject.duplicateTokenHead as string,
  inhibition: truth.indirectObject.inhibitionHead as string,
  nameMover: truth.indirectObject.nameMoverHead as string,
};

/** Clean IOI prompts and corrupted ones of the same length in which the other name repeats. */
export const ioi = {
  clean: "When Mary and John went to the store, John gave a drink to",
  corrupt: "When Mary and John went to the store, Mary gave a drink to",
  cleanSwapped: "When John and Mary went to the store, Mary gave a drink to",
  corruptSwapped: "When John and Mary went to the store, John gave a drink to",
};
