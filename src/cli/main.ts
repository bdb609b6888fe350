/** The `steer-nb` command line (bin/steer-nb.js loads dist/cli.js). */
import { EXIT, UsageError, type Command } from "./command";
import { commands } from "./commands";

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "steer-nb: run Steer notebooks (.steer-nb) without VS Code.",
    "",
    "Usage: steer-nb <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `steer-nb <command> --help` for a command's options.",
    "Exit codes: 0 success, 1 the work failed (e.g. a cell), 2 bad usage or bad input (nothing changed).",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? commands.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write((topic ? topic.help : overview()) + "\n");
    return EXIT.ok;
  }
  if (!name) {
    process.stderr.write(overview() + "\n");
    return EXIT.usage;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`steer-nb: unknown command "${name}". Commands: ${commands.map((c) => c.name).join(", ")}. See steer-nb --help.\n`);
    return EXIT.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(command.help + "\n");
    return EXIT.ok;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`steer-nb ${command.name}: ${e.message}\nSee steer-nb ${command.name} --help.\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`steer-nb: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(EXIT.internal);
  },
);
