// Command-line parsing for the replay CLI (node:util parseArgs): pure, so every usage rule is testable
// without a process. Returns a typed command or throws CliError('USAGE').
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isValidId } from '../../engine/streams.js';
import { CliError } from './errors.js';

export const commandNames = ['verify', 'rebuild', 'at', 'history', 'repair'] as const;
export type CommandName = (typeof commandNames)[number];

export interface CommonOptions {
  readonly dataDir: string;
  readonly journalDir: string;
  readonly snapshotDir: string;
  readonly json: boolean;
  /** Progress lines on stderr during long scans (off with --quiet). */
  readonly progress: boolean;
  readonly progressIntervalMs: number;
}

/** A point in the journal: after the record with this seq, or after the last record appended at or before this time. */
export type JournalPoint =
  | { readonly kind: 'seq'; readonly seq: number }
  | { readonly kind: 'time'; readonly time: string; readonly ms: number };

export type ReplayCommand =
  | { readonly name: 'help'; readonly topic: CommandName | undefined }
  | { readonly name: 'verify'; readonly common: CommonOptions }
  | {
      readonly name: 'rebuild';
      readonly common: CommonOptions;
      readonly fromSnapshot: boolean;
      readonly writeSnapshot: boolean;
    }
  | {
      readonly name: 'at';
      readonly common: CommonOptions;
      readonly sku: string;
      readonly locationId: string;
      readonly point: JournalPoint;
    }
  | {
      readonly name: 'history';
      readonly common: CommonOptions;
      readonly sku: string;
      readonly locationId: string | undefined;
      readonly lowStockThreshold: number;
    }
  | {
      readonly name: 'repair';
      readonly common: CommonOptions;
      readonly yes: boolean;
      readonly backupDir: string;
    };

export interface ArgsEnvironment {
  readonly DATA_DIR?: string | undefined;
  readonly LOW_STOCK_THRESHOLD?: string | undefined;
  readonly REPLAY_PROGRESS_INTERVAL_MS?: string | undefined;
}

const globalOptions = {
  data: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

const commandOptions = {
  verify: {},
  rebuild: { 'from-snapshot': { type: 'boolean' }, 'write-snapshot': { type: 'boolean' } },
  at: {
    sku: { type: 'string' },
    location: { type: 'string' },
    time: { type: 'string' },
    seq: { type: 'string' },
  },
  history: { sku: { type: 'string' }, location: { type: 'string' } },
  repair: { yes: { type: 'boolean', short: 'y' }, 'backup-dir': { type: 'string' } },
} as const;

const allOptions = {
  ...globalOptions,
  ...commandOptions.rebuild,
  ...commandOptions.at,
  ...commandOptions.repair,
} as const;

const GLOBAL_HELP = `Options for every command:
  --data DIR     data directory: journal in DIR/journal, snapshots in DIR/snapshots
                 (default: $DATA_DIR, else ./data)
  --json         machine-readable output on stdout (errors too, as {"error": {...}})
  -q, --quiet    no progress lines on stderr
  -h, --help     this help

Exit codes: 0 ok, 1 usage error, 2 corrupt journal or snapshot (a torn tail included),
            3 not found, 4 unexpected failure (I/O, permissions)`;

const commandHelp: Record<CommandName, string> = {
  verify: `Usage: replay verify [--data DIR] [--json]

Checks every record of every journal segment: JSON, CRC-32 checksum, fields, and the sequence
(gap-free within and across segments). Prints the records, segments and last seq, and the first
problem precisely: segment file, byte offset, reason, and whether it is a torn tail (repairable
with \`replay repair\`) or corruption before the tail (the engine refuses to start).
Exit 0 when clean, 2 at the first problem, 3 when there is no journal directory.`,
  rebuild: `Usage: replay rebuild [--from-snapshot] [--write-snapshot] [--data DIR] [--json]

Recovers the engine's state from the journal with the engine's own fold (engine/projection.ts)
and prints a summary: records replayed, stock levels, locations, reservations by status, totals
on hand / reserved / available, time taken and records/s. Read-only unless --write-snapshot.
A torn tail is skipped (as the engine does at start-up) and reported on stderr.
  --from-snapshot   start from the newest valid snapshot and replay only the journal after it
  --write-snapshot  write a fresh snapshot of the rebuilt state to DIR/snapshots (run it with
                    the engine stopped)
Exit 0 ok, 2 corrupt journal or a snapshot ahead of the journal, 3 no journal, no snapshot
(with --from-snapshot), or records missing from the start of a compacted journal.`,
  at: `Usage: replay at --sku SKU --location LOC (--time ISO | --seq N) [--data DIR] [--json]

The stock level of one (SKU, location) as it was at a point of the journal, folded from the
journal alone: after record N (--seq), or after the last record appended at or before the
instant (--time, an ISO-8601 instant with a zone, e.g. 2026-03-01T10:00:00Z).
Exit 0 ok, 2 corrupt journal, 3 the level did not exist yet, or N is past the journal's end.`,
  history: `Usage: replay history --sku SKU [--location LOC] [--json] [--data DIR]

The event history of one stock level (or of the SKU at every location), oldest first: seq, time,
event, quantity or delta, reason / reference / by / source, and the level after each event.
With --json: one changes-feed item per line (the same items GET /v1/events serves).
Exit 0 ok, 2 corrupt journal, 3 no events for that SKU (and location).`,
  repair: `Usage: replay repair [--yes] [--backup-dir DIR] [--data DIR] [--json]

Cuts a torn tail (a damaged end of the last segment that no valid record follows: a write that
was never acknowledged) after confirmation, keeping the cut bytes in a backup file.
Refuses corruption before the tail: cutting there would lose acknowledged records.
  -y, --yes          do not ask (required when stdin is not a terminal)
  --backup-dir DIR   where to keep the cut bytes (default: DATA/journal-repairs)
Run it with the engine stopped.
Exit 0 repaired or nothing to repair, 1 no --yes without a terminal, 2 corruption before the
tail or the confirmation declined, 3 no journal directory.`,
};

export function helpText(topic?: CommandName): string {
  if (topic) return `${commandHelp[topic]}\n\n${GLOBAL_HELP}\n`;
  return `Usage: npm run replay -- <command> [options]
       node --import tsx scripts/replay.ts <command> [options]

Inspects, recovers and repairs the inventory engine's journal and snapshots (engine stopped for
rebuild --write-snapshot and repair; the other commands only read).

Commands:
  verify    check every checksum and sequence; report the first problem precisely
  rebuild   recover the state from the journal (optionally from a snapshot); print a summary
  at        a stock level as it was at a seq or a time
  history   the event history of a stock level, or of a SKU at every location
  repair    cut a torn journal tail, keeping a backup
  help      \`replay help <command>\` or \`replay <command> --help\`

${GLOBAL_HELP}
`;
}

const usage = (message: string, command?: CommandName): CliError =>
  new CliError('USAGE', `${message}\nSee \`replay ${command ? `${command} ` : ''}--help\`.`);

const isCommandName = (value: string | undefined): value is CommandName =>
  (commandNames as readonly string[]).includes(value ?? '');

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parsePositiveInteger(value: string, what: string, command: CommandName): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw usage(`${what} must be a positive integer`, command);
  return Number(value);
}

function parseId(value: string | undefined, option: string, command: CommandName): string {
  if (value === undefined) throw usage(`${command} needs --${option}`, command);
  if (!isValidId(value)) {
    throw usage(`--${option} ${JSON.stringify(value)} is not a valid id (letters, digits, . _ -)`, command);
  }
  return value;
}

function parseIntegerEnv(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,12}$/.test(value)) throw usage(`${name} must be a non-negative integer`);
  return Number(value);
}

function parseTokens(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: allOptions, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors with an ERR_PARSE_ARGS_* code.
    throw usage(error instanceof Error ? error.message : String(error));
  }
}

/** Parses argv (without node and the script). `cwd` resolves a relative data directory. */
export function parseCommandLine(argv: readonly string[], env: ArgsEnvironment, cwd: string): ReplayCommand {
  const { values, positionals } = parseTokens(argv);
  const [first, ...rest] = positionals;
  if (first === 'help') {
    const [topic, ...extra] = rest;
    if (extra.length > 0 || (topic !== undefined && !isCommandName(topic))) {
      throw usage(`unknown help topic ${JSON.stringify(rest.join(' '))}`);
    }
    return { name: 'help', topic };
  }
  if (first === undefined) {
    if (values.help) return { name: 'help', topic: undefined };
    throw usage('missing command (verify, rebuild, at, history, repair)');
  }
  if (!isCommandName(first)) throw usage(`unknown command ${JSON.stringify(first)}`);
  const command = first;
  if (values.help) return { name: 'help', topic: command };
  if (rest.length > 0) throw usage(`unexpected argument ${JSON.stringify(rest[0])}`, command);

  const allowed = new Set<string>([...Object.keys(globalOptions), ...Object.keys(commandOptions[command])]);
  for (const option of Object.keys(values)) {
    if (!allowed.has(option)) throw usage(`--${option} is not an option of ${command}`, command);
  }

  const dataDir = path.resolve(cwd, values.data ?? (env.DATA_DIR || './data'));
  const common: CommonOptions = {
    dataDir,
    journalDir: path.join(dataDir, 'journal'),
    snapshotDir: path.join(dataDir, 'snapshots'),
    json: values.json ?? false,
    progress: !(values.quiet ?? false),
    progressIntervalMs: parseIntegerEnv(env.REPLAY_PROGRESS_INTERVAL_MS, 'REPLAY_PROGRESS_INTERVAL_MS', 1000),
  };

  switch (command) {
    case 'verify':
      return { name: 'verify', common };
    case 'rebuild':
      return {
        name: 'rebuild',
        common,
        fromSnapshot: values['from-snapshot'] ?? false,
        writeSnapshot: values['write-snapshot'] ?? false,
      };
    case 'at': {
      const sku = parseId(values.sku, 'sku', command);
      const locationId = parseId(values.location, 'location', command);
      if ((values.time === undefined) === (values.seq === undefined)) {
        throw usage('at needs exactly one of --time and --seq', command);
      }
      let point: JournalPoint;
      if (values.seq !== undefined) {
        point = { kind: 'seq', seq: parsePositiveInteger(values.seq, '--seq', command) };
      } else {
        const time = values.time ?? '';
        const ms = Date.parse(time);
        if (!ISO_INSTANT.test(time) || Number.isNaN(ms)) {
          throw usage(
            `--time must be an ISO-8601 instant with a zone, such as 2026-03-01T10:00:00Z`,
            command,
          );
        }
        point = { kind: 'time', time, ms };
      }
      return { name: 'at', common, sku, locationId, point };
    }
    case 'history':
      return {
        name: 'history',
        common,
        sku: parseId(values.sku, 'sku', command),
        locationId: values.location === undefined ? undefined : parseId(values.location, 'location', command),
        lowStockThreshold: parseIntegerEnv(env.LOW_STOCK_THRESHOLD, 'LOW_STOCK_THRESHOLD', 5),
      };
    case 'repair':
      return {
        name: 'repair',
        common,
        yes: values.yes ?? false,
        backupDir: path.resolve(cwd, values['backup-dir'] ?? path.join(dataDir, 'journal-repairs')),
      };
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}
