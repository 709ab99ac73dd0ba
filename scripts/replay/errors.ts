// The replay CLI's expected failures: each with a stable code, declared once with its exit code.
// Commands throw CliError; the entry point prints it and exits with its code (see run.md "Replay CLI").

export const exitCodes = {
  ok: 0,
  usage: 1,
  corrupt: 2,
  notFound: 3,
  failure: 4,
} as const;
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

export const cliErrorCatalogue = {
  /** Bad command line: unknown command or option, missing or malformed value, refused confirmation. */
  USAGE: exitCodes.usage,
  /** A checksum, sequence or record is damaged (also a torn tail until it is repaired). */
  JOURNAL_CORRUPT: exitCodes.corrupt,
  /** A damaged snapshot, or one the journal cannot continue (it covers records the journal does not have). */
  SNAPSHOT_CORRUPT: exitCodes.corrupt,
  /** The operator declined to cut a torn tail: the journal is still damaged. */
  REPAIR_DECLINED: exitCodes.corrupt,
  /** No data directory, journal, snapshot, stock level or records for what was asked. */
  NOT_FOUND: exitCodes.notFound,
} as const satisfies Record<string, ExitCode>;

export type CliErrorCode = keyof typeof cliErrorCatalogue;

export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: ExitCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: CliErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = cliErrorCatalogue[code];
    this.details = details;
  }
}

export const isCliError = (error: unknown): error is CliError => error instanceof CliError;
