// The command line: options (node:util parseArgs), their mapping onto the configuration, the help
// text, and the command that reproduces a given configuration (printed in reports and docs).
import { parseArgs } from 'node:util';
import type { SimulationConfig } from './config.js';
import { ConfigError, defaultConfig, makeConfig } from './config.js';

/** CLI flag -> configuration field, for the numeric options. */
const numericFlags = {
  seed: 'seed',
  stores: 'stores',
  skus: 'skus',
  hours: 'hours',
  'sync-minutes': 'syncMinutes',
  'propagation-ms': 'propagationMs',
  'heartbeat-seconds': 'heartbeatSeconds',
  'online-orders': 'onlineOrdersPerDay',
  'store-customers': 'storeCustomersPerDay',
  'safety-stock': 'safetyStock',
  'shrink-per-store': 'shrinkPerStorePerDay',
  'flash-multiplier': 'flashMultiplier',
} as const satisfies Record<string, keyof SimulationConfig>;

type NumericFlag = keyof typeof numericFlags;

export interface CliOptions {
  readonly config: SimulationConfig;
  readonly sweep: boolean;
  readonly json: boolean;
  readonly outDir: string;
  readonly help: boolean;
}

export const DEFAULT_OUT_DIR = 'data/simulator';

export const usage = `Chain simulator: legacy periodic stock sync against the event-driven engine, on the same seeded demand.

  node --import tsx scripts/simulate.ts [options]

  --seed N               demand seed (default ${defaultConfig.seed})
  --stores N             stores in the chain (default ${defaultConfig.stores})
  --skus N               SKUs per store (default ${defaultConfig.skus})
  --hours H              simulated hours from midnight (default ${defaultConfig.hours})
  --sync-minutes M       legacy sync interval; 0 = on every change (default ${defaultConfig.syncMinutes})
  --propagation-ms MS    till event to engine, event-driven model (default ${defaultConfig.propagationMs})
  --heartbeat-seconds S  store agent heartbeat interval (default ${defaultConfig.heartbeatSeconds})
  --journal KIND         file (the real FileJournal in a temp dir) or memory (default ${defaultConfig.journal})
  --online-orders N      online orders per day, flash sale excluded (default ${defaultConfig.onlineOrdersPerDay})
  --store-customers N    walk-in customers per store per day (default ${defaultConfig.storeCustomersPerDay})
  --safety-stock N       units per level never offered online, both models (default ${defaultConfig.safetyStock})
  --shrink-per-store N   unrecorded lost units per store per day (default ${defaultConfig.shrinkPerStorePerDay})
  --flash-multiplier X   online demand multiplier of the flash-sale SKU (default ${defaultConfig.flashMultiplier})
  --sweep                legacy at 1, 5, 15 and 60 minutes against the event-driven model
  --out DIR              where the JSON and HTML reports go (default ${DEFAULT_OUT_DIR})
  --json                 print the JSON report instead of the tables
  --help                 this text
`;

export function parseCli(argv: readonly string[]): CliOptions {
  const stringOptions = Object.fromEntries(
    Object.keys(numericFlags).map((flag) => [flag, { type: 'string' as const }]),
  ) as Record<NumericFlag, { type: 'string' }>;
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...stringOptions,
        journal: { type: 'string' },
        out: { type: 'string' },
        sweep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const overrides: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(numericFlags)) {
    const raw = values[flag as NumericFlag];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value))
      throw new ConfigError(`--${flag} must be a number, got ${raw}`);
    overrides[field] = value;
  }
  if (values.journal !== undefined) overrides['journal'] = values.journal;
  return {
    config: makeConfig(overrides as Partial<SimulationConfig>),
    sweep: values.sweep === true,
    json: values.json === true,
    outDir: values.out ?? DEFAULT_OUT_DIR,
    help: values.help === true,
  };
}

/** The command that reproduces `config`: the main options always, the others when not at their default. */
export function commandFor(config: SimulationConfig, sweep: boolean): string {
  const always: NumericFlag[] = ['seed', 'stores', 'skus', 'hours'];
  if (!sweep) always.push('sync-minutes');
  always.push('propagation-ms');
  const parts = ['node --import tsx scripts/simulate.ts'];
  for (const [flag, field] of Object.entries(numericFlags) as [NumericFlag, keyof SimulationConfig][]) {
    if (always.includes(flag) || config[field] !== defaultConfig[field])
      parts.push(`--${flag} ${String(config[field])}`);
  }
  parts.push(`--journal ${config.journal}`);
  if (sweep) parts.push('--sweep');
  return parts.join(' ');
}
