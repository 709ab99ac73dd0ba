// The store agent's configuration: command-line flags, each with an environment variable fallback,
// validated once at start-up. An invalid or unknown setting stops the agent with a message naming it;
// every setting is documented in run.md ("Store agent").
import path from 'node:path';
import { isValidId } from '../engine/streams.js';

export interface AgentConfig {
  readonly storeId: string;
  /** Base URL of the engine's HTTP API, without a trailing slash. */
  readonly engineUrl: string;
  /** The store key bound to this store's location. Never logged. */
  readonly storeKey: string;
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port (printed at start). */
  readonly port: number;
  /** Live forwarding when undefined; otherwise the legacy push interval in milliseconds. */
  readonly legacySyncMs: number | undefined;
  /** Most events per forwarded batch (the API accepts at most 1000). */
  readonly batchMax: number;
  /** 0 disables heartbeats. Default 5 s in live mode, off in legacy mode (today's stores send none). */
  readonly heartbeatMs: number;
  /** One forwarding request's time limit. */
  readonly requestTimeoutMs: number;
  /** First retry delay and the ceiling of the exponential backoff (jittered). */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** How long the breaker stays open before a trial request. */
  readonly breakerResetMs: number;
  /** Follow the engine's live stream for the local read model. */
  readonly readModel: boolean;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
}

export class AgentConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid store agent configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'AgentConfigError';
  }
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `10s`, `15m`, `1h` (or a bare number of milliseconds) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match?.[1]) throw new RangeError(`${JSON.stringify(text)} is not a duration such as 500ms, 10s, 15m`);
  const ms = Number(match[1]) * (UNITS[match[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(ms)) throw new RangeError(`${JSON.stringify(text)} is too large`);
  return Math.round(ms);
}

interface Setting {
  readonly flag: string;
  readonly env: string;
  readonly doc: string;
  /** Flags without a value. */
  readonly boolean?: boolean;
}

/** Every setting: its flag, its environment variable and a one-line description (see run.md). */
export const settings = {
  storeId: { flag: 'store', env: 'STORE_ID', doc: 'Store (location) id, as registered in the engine' },
  engineUrl: { flag: 'engine', env: 'ENGINE_URL', doc: 'Engine API base URL, e.g. http://127.0.0.1:8080' },
  storeKey: { flag: 'key', env: 'STORE_KEY', doc: "The store's API key (role store, bound to this store)" },
  dataDir: { flag: 'data', env: 'AGENT_DATA_DIR', doc: 'Directory of the local journal and state files' },
  host: { flag: 'host', env: 'AGENT_HOST', doc: 'Interface of the local till API (default 127.0.0.1)' },
  port: { flag: 'port', env: 'AGENT_PORT', doc: 'Port of the local till API (default 7070; 0 = any free)' },
  legacySync: {
    flag: 'legacy-sync',
    env: 'AGENT_LEGACY_SYNC',
    doc: 'Legacy mode: no live forwarding, push everything recorded every interval (e.g. 15m)',
  },
  batchMax: {
    flag: 'batch-max',
    env: 'AGENT_BATCH_MAX',
    doc: 'Most events per forwarded batch (1-1000, default 500)',
  },
  heartbeat: {
    flag: 'heartbeat',
    env: 'AGENT_HEARTBEAT',
    doc: 'Heartbeat interval (default 5s live, off in legacy mode; 0 = off)',
  },
  requestTimeout: {
    flag: 'request-timeout',
    env: 'AGENT_REQUEST_TIMEOUT',
    doc: 'Per-request time limit (default 5s)',
  },
  retryMin: { flag: 'retry-min', env: 'AGENT_RETRY_MIN', doc: 'First retry delay (default 100ms)' },
  retryMax: {
    flag: 'retry-max',
    env: 'AGENT_RETRY_MAX',
    doc: 'Longest retry delay (default 250ms; the open breaker paces network attempts)',
  },
  breakerReset: {
    flag: 'breaker-reset',
    env: 'AGENT_BREAKER_RESET',
    doc: 'Breaker open time before a trial (default 1s)',
  },
  noReadModel: {
    flag: 'no-read-model',
    env: 'AGENT_NO_READ_MODEL',
    doc: "Do not follow the engine's stream (no local read model)",
    boolean: true,
  },
  logLevel: { flag: 'log-level', env: 'AGENT_LOG_LEVEL', doc: 'error, warn, info (default) or debug' },
} as const satisfies Record<string, Setting>;

type SettingName = keyof typeof settings;

/** Reads `--flag value`, `--flag=value` and boolean `--flag`; unknown flags are problems. */
function parseArgs(argv: readonly string[], problems: string[]): Map<SettingName, string> {
  const byFlag = new Map<string, SettingName>(
    (Object.keys(settings) as SettingName[]).map((name) => [settings[name].flag, name]),
  );
  const values = new Map<SettingName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1] === undefined ? undefined : byFlag.get(match[1]);
    if (!match || name === undefined) {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    const setting: Setting = settings[name];
    if (setting.boolean) {
      values.set(name, match[2] ?? 'true');
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        problems.push(`--${setting.flag} needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    values.set(name, value);
  }
  return values;
}

const KEY = /^[\x21-\x7e]{16,512}$/;

/** Builds the configuration from flags (first) and environment variables; throws AgentConfigError. */
export function loadAgentConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): AgentConfig {
  const problems: string[] = [];
  const flags = parseArgs(argv, problems);
  const raw = (name: SettingName): string | undefined => {
    const value = flags.get(name) ?? env[settings[name].env];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const where = (name: SettingName) => `--${settings[name].flag} (${settings[name].env})`;
  const required = (name: SettingName): string => {
    const value = raw(name);
    if (value === undefined) problems.push(`${where(name)} is required: ${settings[name].doc}`);
    return value ?? '';
  };
  const duration = (name: SettingName, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    try {
      const ms = parseDuration(value);
      if (ms < min || ms > max) {
        problems.push(`${where(name)} must be from ${min} ms to ${max} ms (got ${value})`);
        return fallback;
      }
      return ms;
    } catch (error) {
      problems.push(`${where(name)}: ${(error as Error).message}`);
      return fallback;
    }
  };
  const integer = (name: SettingName, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      problems.push(`${where(name)} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return parsed;
  };

  const storeId = required('storeId');
  if (storeId !== '' && !isValidId(storeId)) {
    problems.push(
      `${where('storeId')} must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (got ${JSON.stringify(storeId)})`,
    );
  }
  let engineUrl = required('engineUrl');
  if (engineUrl !== '') {
    try {
      const url = new URL(engineUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
      engineUrl = url.href.replace(/\/+$/, '');
    } catch {
      problems.push(
        `${where('engineUrl')} must be an http(s) URL such as http://127.0.0.1:8080 (got ${engineUrl})`,
      );
    }
  }
  const storeKey = required('storeKey');
  if (storeKey !== '' && !KEY.test(storeKey)) {
    problems.push(`${where('storeKey')} must be 16 to 512 printable ASCII characters`);
  }
  const dataDir = required('dataDir');
  const legacySyncMs =
    raw('legacySync') === undefined ? undefined : duration('legacySync', 900_000, 100, 86_400_000);
  const logLevel = raw('logLevel') ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    problems.push(
      `${where('logLevel')} must be error, warn, info or debug (got ${JSON.stringify(logLevel)})`,
    );
  }
  const noReadModel = raw('noReadModel');
  if (noReadModel !== undefined && !['true', 'false', '1', '0'].includes(noReadModel)) {
    problems.push(`${where('noReadModel')} must be true or false`);
  }
  const config: AgentConfig = {
    storeId,
    engineUrl,
    storeKey,
    dataDir: dataDir === '' ? '' : path.resolve(dataDir),
    host: raw('host') ?? '127.0.0.1',
    port: integer('port', 7070, 0, 65535),
    legacySyncMs,
    batchMax: integer('batchMax', 500, 1, 1000),
    heartbeatMs: duration('heartbeat', legacySyncMs === undefined ? 5000 : 0, 0, 3_600_000),
    requestTimeoutMs: duration('requestTimeout', 5000, 100, 600_000),
    retryMinMs: duration('retryMin', 100, 1, 60_000),
    retryMaxMs: duration('retryMax', 250, 1, 600_000),
    breakerResetMs: duration('breakerReset', 1000, 10, 600_000),
    readModel: noReadModel === undefined || noReadModel === 'false' || noReadModel === '0',
    logLevel: logLevel as AgentConfig['logLevel'],
  };
  if (config.retryMaxMs < config.retryMinMs) {
    problems.push(`${where('retryMax')} must not be below ${where('retryMin')}`);
  }
  if (problems.length > 0) throw new AgentConfigError(problems);
  return config;
}

/** The usage text printed on a configuration error. */
export function usage(): string {
  const lines = (Object.keys(settings) as SettingName[]).map((name) => {
    const setting: Setting = settings[name];
    const flag = setting.boolean ? `--${setting.flag}` : `--${setting.flag} <value>`;
    return `  ${flag.padEnd(28)} ${setting.env.padEnd(22)} ${setting.doc}`;
  });
  return [
    'Usage: node --import tsx store-agent/main.ts --store S1 --engine http://127.0.0.1:8080 --key <store key> --data <dir> [options]',
    '  flag                         environment            meaning',
    ...lines,
  ].join('\n');
}
