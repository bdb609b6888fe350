/**
 * `steer-nb run`'s view of outputs that update in place (display ids, progress bars): their text
 * goes to stderr, for each id at most every 200 ms, and the state not yet printed when the cell ends
 * is printed then. Stdout keeps its format: it lists the cell's other outputs.
 */
import { displayIdOf, type CellOutput } from "../protocol";
import { outputText } from "./output-text";

const MIN_INTERVAL_MS = 200;

export class LiveLines {
  private readonly lastPrinted = new Map<string, number>();
  private readonly pending = new Map<string, string>();

  constructor(private readonly write: (line: string) => void) {}

  /** Called with every output of the running cell. */
  push(output: CellOutput): void {
    const id = displayIdOf(output);
    if (id === undefined) return;
    const text = outputText(output);
    if (text === "") return;
    const now = Date.now();
    if (now - (this.lastPrinted.get(id) ?? -Infinity) >= MIN_INTERVAL_MS) {
      this.lastPrinted.set(id, now);
      this.pending.delete(id);
      this.write(`${text}\n`);
    } else this.pending.set(id, text);
  }

  /** The cell ended: prints each id's last state if it was held back. */
  flush(): void {
    for (const text of this.pending.values()) this.write(`${text}\n`);
    this.pending.clear();
    this.lastPrinted.clear();
  }
}
