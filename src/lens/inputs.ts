/**
 * Prompts as the toolkit takes them: a string, token ids, or a list of either (a dataset), and the
 * clean/corrupted pairs patching needs, tokenized with equal lengths.
 */
import { BadArgumentError, type Model } from "../engine";

export type Prompt = string | readonly number[];
/** One prompt or a dataset of them. */
export type Prompts = Prompt | readonly Prompt[];

/** A tokenized prompt, with its text when it was given as text. */
export interface TokenizedPrompt {
  tokens: number[];
  text?: string;
}

function isTokenArray(p: unknown): p is readonly number[] {
  return Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "number");
}

/** The list of prompts `p` stands for (a single prompt is a list of one). */
export function promptList(p: Prompts, what = "prompt"): Prompt[] {
  if (typeof p === "string" || isTokenArray(p)) return [p];
  if (!Array.isArray(p) || p.length === 0) throw new BadArgumentError(`${what} must be a string, token ids, or a non-empty list of them; got ${describe(p)}.`);
  return p.map((x, i) => {
    if (typeof x === "string" || isTokenArray(x)) return x;
    throw new BadArgumentError(`${what}[${i}] must be a string or token ids, got ${describe(x)}.`);
  });
}

export function tokenizePrompts(model: Model, p: Prompts, what = "prompt"): TokenizedPrompt[] {
  return promptList(p, what).map((x) => (typeof x === "string" ? { tokens: model.tokenize(x), text: x } : { tokens: [...x] }));
}

/** Clean and corrupted prompts, pairwise of equal token length (patching copies position by position). */
export function tokenizePairs(model: Model, clean: Prompts, corrupt: Prompts): { clean: TokenizedPrompt[]; corrupt: TokenizedPrompt[] } {
  const c = tokenizePrompts(model, clean, "clean");
  const k = tokenizePrompts(model, corrupt, "corrupt");
  if (c.length !== k.length) throw new BadArgumentError(`clean has ${c.length} prompts and corrupt ${k.length}: give one corrupted prompt per clean one.`);
  c.forEach((x, i) => {
    if (x.tokens.length !== k[i].tokens.length) {
      const show = (t: TokenizedPrompt) => model.toStr(t.tokens).map((s) => JSON.stringify(s)).join(" ");
      throw new BadArgumentError(
        `clean${c.length > 1 ? `[${i}]` : ""} and corrupt${c.length > 1 ? `[${i}]` : ""} must tokenize to the same length to be patched position by position; ` +
          `clean has ${x.tokens.length} tokens: ${show(x)}; corrupt has ${k[i].tokens.length}: ${show(k[i])}. Choose words that are one token each, or pass token ids.`,
      );
    }
  });
  return { clean: c, corrupt: k };
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "an empty list" : "a list of mixed values";
  return typeof v;
}
