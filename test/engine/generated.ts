// Small random models of each supported architecture, written by the models helper's generator
// into a temporary folder once per test process.
export interface GeneratedModel {
  arch: "llama" | "gpt2" | "qwen2";
  path: () => string;
  skip: string | false;
}

export const generatedModels: GeneratedModel[] = [];
