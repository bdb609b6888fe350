/** The single prompt and the position the per-prompt attribution methods read, checked. */
import { BadArgumentError, type Model } from "../engine";
import { tokenizePrompts, type Prompt, type TokenizedPrompt } from "./inputs";

/** The one prompt a per-prompt method reads, tokenized. */
export function onePrompt(model: Model, input: Prompt, what: string): TokenizedPrompt {
  const prompts = tokenizePrompts(model, input, "input");
  if (prompts.length !== 1) throw new BadArgumentError(`${what} takes one prompt (a string or token ids), got a list of ${prompts.length}: call it once per prompt.`);
  return prompts[0];
}

/** A position index (negative counts from the end; default the last) checked against the sequence length. */
export function checkPos(pos: number | undefined, n: number, what = "pos"): number {
  const p = pos ?? n - 1;
  const k = p < 0 ? n + p : p;
  if (!Number.isInteger(p) || k < 0 || k >= n) throw new BadArgumentError(`${what} ${p} is out of range: the input has ${n} tokens (use 0..${n - 1}, or -1 for the last).`);
  return k;
}
