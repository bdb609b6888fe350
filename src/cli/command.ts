import { parseArgs, type ParseArgsConfig } from "node:util";

/** One `steer-nb <name>` command. The table of commands is commands.ts. */
export interface Command {
  name: string;
  /** One line for `steer-nb --help`. */
  summary: string;
  /** The full text of `steer-nb <name> --help`: usage line, options, examples. */
  help: string;
  /** Runs with the arguments after the command name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit codes shared by all commands. */
export const EXIT = {
  ok: 0,
  /** The work ran and failed (a cell failed). */
  failed: 1,
  /** Bad usage or bad input (unknown option, missing file, corrupt notebook); nothing was changed. */
  usage: 2,
  /** A bug: an unexpected exception. */
  internal: 70,
} as const;

/** Thrown for bad usage; main prints the message and the command's usage, and exits with EXIT.usage. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** node:util parseArgs with positionals allowed and unknown options refused; its errors become UsageErrors. */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
