// The simulation's parameters, their defaults and their validation. One plain object drives both models,
// so the legacy and event-driven runs always see the same chain and the same demand.

export type JournalKind = 'memory' | 'file';

export interface SimulationConfig {
  readonly seed: number;
  readonly stores: number;
  readonly skus: number;
  /** Simulated hours from midnight of `startDate`. */
  readonly hours: number;
  /** Legacy model: each store syncs with the centre every this many minutes (0: on every change). */
  readonly syncMinutes: number;
  /** Event-driven model: time from a till event to the engine applying it. */
  readonly propagationMs: number;
  /** Event-driven model: each store agent says it is alive this often (the agent's default is 5 s). */
  readonly heartbeatSeconds: number;
  /** Event-driven model: the journal under the real engine. */
  readonly journal: JournalKind;
  /** Walk-in customers per store per day, on average (stores differ in size). */
  readonly storeCustomersPerDay: number;
  /** Online orders per day across the chain, flash sale excluded. */
  readonly onlineOrdersPerDay: number;
  /** Zipf exponent of SKU popularity: rank r gets weight 1 / r^s. */
  readonly zipfExponent: number;
  /** Online demand for the flash-sale SKU is multiplied by this during the flash window. */
  readonly flashMultiplier: number;
  /** Walk-in demand for the flash-sale SKU is multiplied by this during the window (the promotion is in store too). */
  readonly flashStoreMultiplier: number;
  readonly flashStartHour: number;
  readonly flashMinutes: number;
  /** Units per stock level never offered online, in both models. */
  readonly safetyStock: number;
  /** Units per store per day that vanish unrecorded (theft, damage); physical counts find them. */
  readonly shrinkPerStorePerDay: number;
  /** Returned units per walk-in customer: each return puts one unit back on a store's shelf. */
  readonly returnRate: number;
  /** Share of a store's SKUs counted at each cycle count. */
  readonly countShare: number;
  /** Mean seconds between a reservation and the payment that confirms it. */
  readonly checkoutSeconds: number;
  /** Reservation hold, seconds (the engine's ttlSeconds). */
  readonly holdSeconds: number;
  readonly startDate: string;
}

export const defaultConfig: SimulationConfig = {
  seed: 42,
  stores: 12,
  skus: 60,
  hours: 24,
  syncMinutes: 15,
  propagationMs: 20,
  heartbeatSeconds: 5,
  journal: 'file',
  storeCustomersPerDay: 350,
  onlineOrdersPerDay: 2000,
  zipfExponent: 1.1,
  flashMultiplier: 40,
  flashStoreMultiplier: 6,
  flashStartHour: 12,
  flashMinutes: 60,
  safetyStock: 0,
  shrinkPerStorePerDay: 4,
  returnRate: 0.06,
  countShare: 0.15,
  checkoutSeconds: 90,
  holdSeconds: 900,
  startDate: '2026-03-02',
};

/** The intervals `--sweep` compares with the event-driven model. */
export const sweepSyncMinutes = [1, 5, 15, 60] as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const integerFields = [
  ['seed', 0, 2 ** 32 - 1],
  ['stores', 1, 500],
  ['skus', 1, 5_000],
  ['heartbeatSeconds', 1, 3_600],
] as const;

const numberFields = [
  ['hours', 1 / 60, 24 * 7],
  ['syncMinutes', 0, 24 * 60],
  ['propagationMs', 0, 3_600_000],
  ['storeCustomersPerDay', 0, 1_000_000],
  ['onlineOrdersPerDay', 0, 10_000_000],
  ['zipfExponent', 0, 5],
  ['flashMultiplier', 1, 10_000],
  ['flashStoreMultiplier', 1, 10_000],
  ['flashStartHour', 0, 24 * 7],
  ['flashMinutes', 0, 24 * 60],
  ['safetyStock', 0, 1_000],
  ['shrinkPerStorePerDay', 0, 10_000],
  ['returnRate', 0, 1],
  ['countShare', 0, 1],
  ['checkoutSeconds', 0, 3_600],
  ['holdSeconds', 1, 24 * 3600],
] as const;

/** Merges overrides into the defaults and checks every field; throws ConfigError naming the bad one. */
export function makeConfig(overrides: Partial<SimulationConfig> = {}): SimulationConfig {
  const config: SimulationConfig = { ...defaultConfig, ...overrides };
  for (const [field, min, max] of integerFields) {
    const value = config[field];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${field} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
  }
  for (const [field, min, max] of numberFields) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new ConfigError(`${field} must be a number from ${min} to ${max}, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(config.safetyStock)) throw new ConfigError('safetyStock must be an integer');
  if (config.checkoutSeconds * 4 >= config.holdSeconds) {
    throw new ConfigError(
      'holdSeconds must exceed 4 x checkoutSeconds, so payments land before holds expire',
    );
  }
  if (config.journal !== 'memory' && config.journal !== 'file') {
    throw new ConfigError(`journal must be memory or file, got ${String(config.journal)}`);
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(config.startDate) || Number.isNaN(Date.parse(config.startDate))) {
    throw new ConfigError(`startDate must be a date such as 2026-03-02, got ${config.startDate}`);
  }
  return config;
}
