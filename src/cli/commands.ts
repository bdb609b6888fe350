/** Every `steer-nb` command, in the order `steer-nb --help` lists them. */
import type { Command } from "./command";
import { downloadCommand } from "./download";
import { exportCommand } from "./export";
import { makeModelCommand } from "./make-model";
import { runCommand } from "./run";

export const commands: Command[] = [runCommand, exportCommand, makeModelCommand, downloadCommand];
