/**
 * Types of the cell API, for completions in cells. Cells get it as globals and as a module:
 *   import steer, { display } from "steer-nb";
 * The globals are not declared here (this file is part of the kernel's own type check); an editor
 * providing cell completions adds:
 *   declare const steer: typeof import("steer-nb").default;
 *   declare const display: typeof import("steer-nb").display;
 * steer-api.ts is checked against SteerApi below.
 */
declare module "steer-nb" {
  /** One representation of an output: `data` is a string for text mimes, a JSON value for json mimes, base64 for binary. */
  export interface OutputItem {
    mime: string;
    data: unknown;
  }

  /** Several representations of one output; the viewer picks the richest it can show. */
  export interface CellOutput {
    items: OutputItem[];
    metadata?: Record<string, unknown>;
  }

  /** Any object with this method displays as what it returns (toolkit results use it). */
  export interface Displayable {
    toSteerOutput(): OutputItem | CellOutput;
  }

  export interface RendererMessageEvent {
    rendererId: string;
    message: { type: string; [key: string]: unknown };
    /** Answers the renderer that sent the message. */
    reply(message: unknown): void;
  }

  export interface SteerApi {
    /**
     * Shows a value below the cell now, while the cell keeps running. Strings show as text, plain
     * objects as JSON, PNG bytes as an image, objects with `toSteerOutput()` as themselves.
     * `mime` forces the type (text mimes take strings, image/png bytes or base64, json mimes values).
     */
    display(value: unknown, mime?: string): void;
    html(source: string): Displayable;
    markdown(source: string): Displayable;
    svg(source: string): Displayable;
    /** PNG image from bytes (Uint8Array, Buffer, ArrayBuffer) or a base64 string. */
    png(bytes: Uint8Array | ArrayBuffer | string): Displayable;
    json(value: unknown): Displayable;
    /** Handles messages of one `type` that toolkit views send (clicks, selections). */
    onRendererMessage(type: string, handler: (event: RendererMessageEvent) => void | Promise<void>): { dispose(): void };
    postRendererMessage(rendererId: string, message: unknown): void;
    /** Throws InterruptedError if the user interrupted the cell: call it in long loops of your own library code. */
    checkInterrupt(): void;
  }

  export const display: SteerApi["display"];
  export const html: SteerApi["html"];
  export const markdown: SteerApi["markdown"];
  export const svg: SteerApi["svg"];
  export const png: SteerApi["png"];
  export const json: SteerApi["json"];
  export const onRendererMessage: SteerApi["onRendererMessage"];
  export const postRendererMessage: SteerApi["postRendererMessage"];
  export const checkInterrupt: SteerApi["checkInterrupt"];
  export const steer: SteerApi;
  export default steer;
}
