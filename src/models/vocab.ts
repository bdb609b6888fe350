// A small SentencePiece-style vocabulary (tokenizer.ggml.model = "llama") in which every listed word
// is one token. llama.cpp's SPM tokenizer merges adjacent symbols bottom-up only into pieces that are
// in the vocabulary, so each word "▁Mary" comes with its prefixes "▁M", "▁Ma", "▁Mar" (lower scores).
import { GGUFValueType, gguf, type GGUFValue } from "../gguf/index";

/** Names: the indirect-object task draws from these. */
export const NAMES = ["Mary", "John", "Tom", "Anna", "James", "Lucy", "Sam", "Emma", "Max", "Lily", "Ben", "Kate"] as const;

/** Other whole words: simple sentences read as text. */
export const WORDS = [
  "When", "Then", "The", "Once", "One", "It", "She", "He", "They", "After",
  "and", "went", "to", "the", "store", "park", "school", "garden", "house", "beach", "gave", "a", "drink", "book",
  "ball", "cake", "flower", "letter", "gift", "said", "cat", "dog", "bird", "fish", "sat", "ran", "on", "mat", "was",
  "happy", "sad", "big", "small", "red", "blue", "green", "in", "at", "with", "her", "his", "she", "he", "they",
  "it", "is", "day", "sun", "tree", "apple", "time", "upon", "there", "little", "girl", "boy", "play", "loved",
  "friend", "home", "water", "milk", "toy", "box", "door", "car", "hat", "cup", "walked", "saw", "took", "had",
] as const;

const CHARS = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()"];

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, unused: 5, byte: 6 } as const;

export interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  bos: number;
  eos: number;
  unk: number;
  /** Token id of a whole word as it appears after a space ("Mary" -> id of "▁Mary"). */
  word(w: string): number;
  /** Ids of the whole-word tokens (names and words), in vocabulary order. */
  wordIds: number[];
  nameIds: number[];
}

/**
 * The vocabulary, padded with "<unused_N>" tokens to `size` when given (random models of any vocab
 * size). Throws when `size` is smaller than the words need.
 */
export function buildVocab(size?: number): Vocab {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  const scores: number[] = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_TYPE.byte);
    scores.push(0);
  }
  const index = new Map<string, number>();
  const add = (piece: string, score: number) => {
    if (index.has(piece)) return;
    index.set(piece, tokens.length);
    tokens.push(piece);
    types.push(TOKEN_TYPE.normal);
    scores.push(score);
  };
  add("▁", -1000);
  for (const c of CHARS) add(c, -1000);
  const words = [...NAMES, ...WORDS];
  // prefixes first (scores below the words) so that the vocabulary reads as pieces, then words
  for (const w of words) for (let n = 1; n < w.length; n++) add("▁" + w.slice(0, n), -100 - n);
  words.forEach((w, i) => {
    const piece = "▁" + w;
    if (index.has(piece)) {
      scores[index.get(piece)!] = -1 - i / 1000; // a word that is also a prefix of another word
    } else add(piece, -1 - i / 1000);
  });
  if (size !== undefined) {
    if (size < tokens.length) throw new Error(`vocabulary size ${size} is too small: the word tokenizer needs at least ${tokens.length} tokens`);
    while (tokens.length < size) {
      tokens.push(`<unused_${tokens.length}>`);
      types.push(TOKEN_TYPE.unused);
      scores.push(-10000);
    }
  }
  const word = (w: string) => {
    const id = index.get("▁" + w);
    if (id === undefined) throw new Error(`"${w}" is not a word of the generated vocabulary`);
    return id;
  };
  return {
    tokens, scores, types, bos: 1, eos: 2, unk: 0, word,
    wordIds: words.map(word),
    nameIds: NAMES.map(word),
  };
}

/** Number of tokens the word vocabulary needs (the smallest allowed --vocab). */
export const MIN_VOCAB = buildVocab().tokens.length;

/** tokenizer.ggml.* metadata for llama.cpp's SPM tokenizer. */
export function tokenizerMetadata(v: Vocab): [string, GGUFValue][] {
  return [
    ["tokenizer.ggml.model", gguf.str("llama")],
    ["tokenizer.ggml.tokens", gguf.array(GGUFValueType.STRING, v.tokens)],
    ["tokenizer.ggml.scores", gguf.array(GGUFValueType.FLOAT32, v.scores)],
    ["tokenizer.ggml.token_type", gguf.array(GGUFValueType.INT32, v.types)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(v.bos)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(v.eos)],
    ["tokenizer.ggml.unknown_token_id", gguf.u32(v.unk)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
    ["tokenizer.ggml.add_eos_token", gguf.bool(false)],
    ["tokenizer.ggml.add_space_prefix", gguf.bool(true)],
  ];
}
