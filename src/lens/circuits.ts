// steer.circuit: discovery, the Circuit value, and reading circuits saved by EAP-IG.
export { discover } from "./circuit-discovery";
export { Circuit } from "./circuit";
import { Circuit } from "./circuit";

/** A circuit from EAP-IG's Graph.to_json text (or a circuit's own JSON). */
export function fromJSON(text: string): Circuit {
  return Circuit.fromJSON(text);
}
