/**
 * Progress bars for the toolkit's sweeps when a cell runs them: the lens reports through
 * `onProgress(done, total)`, and a sweep the user gave no `onProgress` of their own shows a
 * progress line (live-output.ts) that ends as "done in N ms", or "stopped after N ms" when it fails.
 *
 * | function                          | progress bar                                         |
 * |-----------------------------------|------------------------------------------------------|
 * | steer.patch.heads                 | yes                                                  |
 * | steer.patch.residual/attnOut/mlpOut | yes                                                |
 * | steer.patch.path                  | yes with one receiver set patched alone ("logits" or one receiver); several receivers report nothing |
 * | steer.circuit.discover            | no: it runs several sweeps of different sizes under one onProgress, a bar would jump back |
 */
import type { Model } from "../engine";
import { patch } from "../lens";
import { Progress } from "./live-output";

type OnProgress = (done: number, total: number) => void;

/** The same function, with a progress bar when its options carry no onProgress. */
export function withProgress<O extends { onProgress?: OnProgress }, R>(label: string, run: (model: Model, options: O) => Promise<R>): (model: Model, options: O) => Promise<R> {
  return async (model, options) => {
    // Not an options object: the lens's own check says what is wrong.
    if (options === null || typeof options !== "object" || options.onProgress) return run(model, options);
    let bar: Progress | undefined;
    const startedAt = Date.now();
    // The lens reports after each batch: the bar appears with the first one, its time counts from the start.
    const onProgress: OnProgress = (done, total) => {
      if (bar) bar.update(done, total);
      else bar = new Progress(total, label, { done, startedAt });
    };
    try {
      const result = await run(model, { ...options, onProgress });
      bar?.done();
      return result;
    } catch (e) {
      bar?.stopped();
      throw e;
    }
  };
}

/** steer.patch: the lens's patching functions, the sweeps wrapped. */
export const patchWithProgress = {
  ...patch,
  heads: withProgress("head sweep", patch.heads),
  residual: withProgress("residual sweep", patch.residual),
  attnOut: withProgress("attn-out sweep", patch.attnOut),
  mlpOut: withProgress("mlp-out sweep", patch.mlpOut),
  path: withProgress("path patching", patch.path),
};
