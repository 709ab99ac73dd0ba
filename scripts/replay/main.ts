// The replay CLI's top level: parse, run, and turn every outcome into output and an exit code.
// scripts/replay.ts wires it to the process; tests can call it with their own streams.
import { createInterface } from 'node:readline/promises';
import { SnapshotIntegrityError } from '../../storage/lowdb-snapshots.js';
import { helpText, parseCommandLine, type ArgsEnvironment, type ReplayCommand } from './args.js';
import { runCommand, type CliContext } from './commands.js';
import { CliError, exitCodes, isCliError, type ExitCode } from './errors.js';
import { asCliError } from './journal-source.js';

export interface MainIo extends Omit<CliContext, 'confirm'> {
  readonly env: ArgsEnvironment;
  readonly cwd: string;
  readonly confirm?: CliContext['confirm'] | undefined;
}

/** Maps what a command threw to the CLI's error catalogue; undefined for an unexpected failure. */
function classify(error: unknown): CliError | undefined {
  if (isCliError(error)) return error;
  if (error instanceof SnapshotIntegrityError) {
    return new CliError('SNAPSHOT_CORRUPT', error.message, { file: error.file });
  }
  return asCliError(error);
}

function report(error: CliError, json: boolean, io: MainIo, command: string | undefined): void {
  if (json)
    io.out(`${JSON.stringify({ error: { code: error.code, message: error.message, ...error.details } })}\n`);
  io.err(`replay${command ? ` ${command}` : ''}: ${error.message}\n`);
}

export async function main(argv: readonly string[], io: MainIo): Promise<ExitCode> {
  let command: ReplayCommand;
  try {
    command = parseCommandLine(argv, io.env, io.cwd);
  } catch (error) {
    const cliError = classify(error);
    if (!cliError) throw error;
    report(cliError, argv.includes('--json'), io, undefined);
    return cliError.exitCode;
  }
  if (command.name === 'help') {
    io.out(helpText(command.topic));
    return exitCodes.ok;
  }
  try {
    return await runCommand(command, { ...io, confirm: io.confirm ?? confirmOnTerminal });
  } catch (error) {
    const cliError = classify(error);
    if (cliError) {
      report(cliError, command.common.json, io, command.name);
      return cliError.exitCode;
    }
    io.err(
      `replay ${command.name}: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return exitCodes.failure;
  }
}

/** Asks on stderr (stdout stays the result), reads the answer from stdin. */
async function confirmOnTerminal(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await terminal.question(question);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    terminal.close();
  }
}
