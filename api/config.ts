// The API's configuration: read once from environment variables, validated with ajv at start-up,
// exported as a plain typed object. An invalid value stops the process with a message naming the
// variable; every variable is documented in README.md ("Configuration") and docs/api.md.
import { hash } from 'node:crypto';
import { hostname } from 'node:os';
import { Ajv } from 'ajv';
import { ID_PATTERN } from './schemas.js';

export const roles = ['admin', 'store', 'storefront', 'reader'] as const;
export type Role = (typeof roles)[number];

export const logLevels = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof logLevels)[number];

/** One configured API key. Only its SHA-256 digest is kept in memory. */
export interface ApiKey {
  /** Stable, non-secret id of the key (a prefix of its digest): scopes idempotency keys and rate limits. */
  readonly id: string;
  readonly digest: Buffer;
  readonly role: Role;
  /** For the `store` role: the one location it may write. */
  readonly locationId?: string | undefined;
}

export interface ApiConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly apiKeys: readonly ApiKey[];
  readonly logLevel: LogLevel;
  readonly corsOrigins: readonly string[];
  /** Requests per key per minute; 0 disables the limit. */
  readonly rateLimitPerMinute: number;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly paymentPendingTtlSeconds: number;
  readonly requestTimeoutMs: number;
  readonly maxSseClients: number;
  readonly sseHeartbeatMs: number;
  readonly lowStockThreshold: number;
  readonly bodyLimitBytes: number;
  /** Requests served at once before new ones are shed with 503 (SSE streams are counted apart). */
  readonly maxInFlight: number;
  readonly shutdownTimeoutMs: number;
  readonly snapshotEveryRecords: number;
  readonly idempotencyRetentionSeconds: number;
  /** Load the demo chain into an empty data directory. */
  readonly demoData: boolean;
  /** After a snapshot, delete journal segments the previous snapshot covers. */
  readonly compactJournal: boolean;
  readonly mailboxCapacity: number;
  readonly storeSilentAfterSeconds: number;
  readonly offlineBufferUnits: number;
  /** `file` (DATA_DIR, one node) or `postgres` (DATABASE_URL, shared by several nodes). */
  readonly journal: 'file' | 'postgres';
  readonly databaseUrl: string;
  readonly pgSchema: string;
  /** This node's id among the live nodes of a cluster. */
  readonly nodeId: string;
  /** HTTP worker processes in front of the engine's process (api/http-workers/); 0: one process. */
  readonly httpWorkers: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

interface Variable {
  readonly key: keyof Omit<ApiConfig, 'apiKeys' | 'corsOrigins'> | 'apiKeys' | 'corsOrigins';
  readonly schema: Record<string, unknown>;
  readonly default: string | number;
  readonly doc: string;
}

const integer = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum });

/** Every variable the API reads, with its schema, default and a one-line description. */
export const variables = {
  PORT: { key: 'port', schema: integer(0, 65535), default: 8080, doc: 'TCP port to listen on' },
  HOST: {
    key: 'host',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
    default: '0.0.0.0',
    doc: 'Interface to bind',
  },
  DATA_DIR: {
    key: 'dataDir',
    schema: { type: 'string', minLength: 1 },
    default: './data',
    doc: 'Directory of the journal (DATA_DIR/journal) and snapshots (DATA_DIR/snapshots)',
  },
  API_KEYS: {
    key: 'apiKeys',
    schema: { type: 'string' },
    default: '',
    doc: 'Comma-separated `key:role[:locationId]`; key as plain text (16+ chars) or `sha256:<64 hex>`; roles admin, store (needs locationId), storefront, reader. Empty: a random admin key is generated and printed once',
  },
  LOG_LEVEL: {
    key: 'logLevel',
    schema: { type: 'string', enum: [...logLevels] },
    default: 'info',
    doc: 'winston level',
  },
  CORS_ORIGINS: {
    key: 'corsOrigins',
    schema: { type: 'string' },
    default: '',
    doc: 'Comma-separated origins allowed by CORS (for example https://shop.example.com); empty: no CORS',
  },
  RATE_LIMIT_PER_MINUTE: {
    key: 'rateLimitPerMinute',
    schema: integer(0, 10_000_000),
    default: 6000,
    doc: 'Requests per API key per minute (429 beyond); 0 disables',
  },
  DEFAULT_TTL_SECONDS: {
    key: 'defaultTtlSeconds',
    schema: integer(1, 86_400),
    default: 900,
    doc: 'Reservation hold time when the request gives none',
  },
  MAX_TTL_SECONDS: {
    key: 'maxTtlSeconds',
    schema: integer(1, 604_800),
    default: 3600,
    doc: 'Longest hold a request may ask for',
  },
  PAYMENT_PENDING_TTL_SECONDS: {
    key: 'paymentPendingTtlSeconds',
    schema: integer(1, 604_800),
    default: 1800,
    doc: 'Hold time once a reservation is marked payment-pending',
  },
  REQUEST_TIMEOUT_MS: {
    key: 'requestTimeoutMs',
    schema: integer(100, 600_000),
    default: 10_000,
    doc: 'A request not answered in this time gets 503 REQUEST_TIMEOUT (retry with the same Idempotency-Key)',
  },
  MAX_SSE_CLIENTS: {
    key: 'maxSseClients',
    schema: integer(0, 100_000),
    default: 1000,
    doc: 'Concurrent /v1/stream clients; beyond, 503 with Retry-After',
  },
  SSE_HEARTBEAT_MS: {
    key: 'sseHeartbeatMs',
    schema: integer(100, 600_000),
    default: 15_000,
    doc: 'Interval of SSE heartbeat comments',
  },
  LOW_STOCK_THRESHOLD: {
    key: 'lowStockThreshold',
    schema: integer(0, 1_000_000_000),
    default: 5,
    doc: 'Available units at or below which a level signals low_stock',
  },
  BODY_LIMIT_BYTES: {
    key: 'bodyLimitBytes',
    schema: integer(1024, 16_777_216),
    default: 262_144,
    doc: 'Largest request body (413 beyond)',
  },
  MAX_IN_FLIGHT: {
    key: 'maxInFlight',
    schema: integer(1, 1_000_000),
    default: 1024,
    doc: 'Requests in progress at once before new ones are shed with 503',
  },
  SHUTDOWN_TIMEOUT_MS: {
    key: 'shutdownTimeoutMs',
    schema: integer(0, 600_000),
    default: 10_000,
    doc: 'On SIGTERM/SIGINT, how long to wait for in-flight requests before closing connections',
  },
  SNAPSHOT_EVERY_RECORDS: {
    key: 'snapshotEveryRecords',
    schema: integer(1, 100_000_000),
    default: 50_000,
    doc: 'Journal records between automatic snapshots',
  },
  IDEMPOTENCY_RETENTION_SECONDS: {
    key: 'idempotencyRetentionSeconds',
    schema: integer(60, 31_536_000),
    default: 86_400,
    doc: 'How long an Idempotency-Key is remembered',
  },
  DEMO_DATA: {
    key: 'demoData',
    schema: { type: 'string', enum: ['true', 'false'] },
    default: 'true',
    doc: 'Load the demo chain (7 locations, 45 SKUs) when the data directory is empty',
  },
  COMPACT_JOURNAL: {
    key: 'compactJournal',
    schema: { type: 'string', enum: ['true', 'false'] },
    default: 'false',
    doc: 'After each snapshot, delete journal segments wholly covered by the previous snapshot',
  },
  MAILBOX_CAPACITY: {
    key: 'mailboxCapacity',
    schema: integer(1, 10_000_000),
    default: 10_000,
    doc: 'Commands in flight per stock level before 429 MAILBOX_FULL',
  },
  STORE_SILENT_AFTER_SECONDS: {
    key: 'storeSilentAfterSeconds',
    schema: integer(1, 86_400),
    default: 120,
    doc: 'A store agent silent this long may be selling offline: its offline buffer is withheld online',
  },
  OFFLINE_BUFFER_UNITS: {
    key: 'offlineBufferUnits',
    schema: integer(0, 1_000_000),
    default: 2,
    doc: 'Units per stock level a silent store keeps back from online promises',
  },
  JOURNAL: {
    key: 'journal',
    schema: { type: 'string', enum: ['file', 'postgres'] },
    default: 'file',
    doc: 'file: journal and snapshots under DATA_DIR (one node); postgres: in DATABASE_URL, shared by every node of a cluster',
  },
  DATABASE_URL: {
    key: 'databaseUrl',
    schema: { type: 'string' },
    default: '',
    doc: 'PostgreSQL connection string (postgres://user@host:5432/db); required when JOURNAL=postgres',
  },
  PG_SCHEMA: {
    key: 'pgSchema',
    schema: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$' },
    default: 'inventory',
    doc: 'Schema of the tables, created and migrated at start-up; the nodes of one cluster share it',
  },
  NODE_ID: {
    key: 'nodeId',
    schema: { type: 'string', maxLength: 200 },
    default: '',
    doc: 'This node in cluster_nodes, unique among live nodes; empty: <hostname>-<pid>',
  },
  HTTP_WORKERS: {
    key: 'httpWorkers',
    schema: integer(0, 16),
    default: 0,
    doc: 'HTTP worker processes serving the API over one engine process (0: one process does both); the rate limit is split between them',
  },
} as const satisfies Record<string, Variable>;

type VariableName = keyof typeof variables;

const variableSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    Object.entries(variables).map(([name, variable]) => [name, variable.schema]),
  ),
};

// Compiled once, at module load: environment values arrive as strings and are coerced to numbers.
const validateVariables = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: false }).compile(
  variableSchema,
);

const KEY_DIGEST = /^sha256:([0-9a-fA-F]{64})$/;
const PLAIN_KEY = /^[\x21-\x2b\x2d-\x39\x3b-\x7e]{16,256}$/; // printable ASCII except ',' and ':'
const MIN_KEY_LENGTH = 16;

/** SHA-256 of a key (the one-shot `crypto.hash`: a third of `createHash`'s cost on short input). */
export const digestOf = (key: string): Buffer => hash('sha256', key, 'buffer');

/** Parses API_KEYS: `key:role[:locationId]`, comma-separated; key may be `sha256:<hex>`. */
export function parseApiKeys(value: string): { keys: ApiKey[]; problems: string[] } {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  entries.forEach((entry, index) => {
    const where = `API_KEYS entry ${index + 1}`;
    let digest: Buffer;
    let rest: string[];
    const parts = entry.split(':');
    if (parts[0] === 'sha256') {
      const hex = parts[1] ?? '';
      if (!KEY_DIGEST.test(`sha256:${hex}`)) {
        problems.push(`${where}: a hashed key must be sha256:<64 hex digits>`);
        return;
      }
      digest = Buffer.from(hex, 'hex');
      rest = parts.slice(2);
    } else {
      const key = parts[0] ?? '';
      if (key.length < MIN_KEY_LENGTH || !PLAIN_KEY.test(key)) {
        problems.push(
          `${where}: a key must be at least ${MIN_KEY_LENGTH} printable characters without ',' or ':' (or sha256:<hex>)`,
        );
        return;
      }
      digest = digestOf(key);
      rest = parts.slice(1);
    }
    const [role, locationId, ...extra] = rest;
    if (!role || !(roles as readonly string[]).includes(role)) {
      problems.push(`${where}: role must be one of ${roles.join(', ')} (got ${JSON.stringify(role ?? '')})`);
      return;
    }
    if (extra.length > 0) {
      problems.push(`${where}: expected key:role[:locationId], found ${rest.length + 1} parts`);
      return;
    }
    if (role === 'store' && locationId === undefined) {
      problems.push(`${where}: the store role needs a locationId (key:store:<locationId>)`);
      return;
    }
    if (role !== 'store' && locationId !== undefined) {
      problems.push(`${where}: only the store role is bound to a location`);
      return;
    }
    if (locationId !== undefined && !new RegExp(ID_PATTERN).test(locationId)) {
      problems.push(`${where}: locationId ${JSON.stringify(locationId)} is not a valid id (${ID_PATTERN})`);
      return;
    }
    const id = digest.toString('hex').slice(0, 16);
    if (keys.some((known) => known.id === id)) {
      problems.push(`${where}: the same key is configured twice`);
      return;
    }
    keys.push({ id, digest, role: role as Role, locationId });
  });
  return { keys, problems };
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** Reads and validates the configuration; throws ConfigError listing every invalid variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): ApiConfig {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(variables) as VariableName[]) {
    const value = env[name];
    raw[name] = value === undefined || value.trim() === '' ? variables[name].default : value.trim();
  }
  const problems: string[] = [];
  if (!validateVariables(raw)) {
    for (const error of validateVariables.errors ?? []) {
      const name = error.instancePath.replace(/^\//, '');
      problems.push(`${name} ${error.message ?? 'is invalid'} (got ${JSON.stringify(env[name])})`);
    }
    throw new ConfigError(problems);
  }
  // After validation with coercion every value has its schema's type.
  const num = (name: VariableName): number => raw[name] as number;
  const str = (name: VariableName): string => raw[name] as string;
  const { keys, problems: keyProblems } = parseApiKeys(str('API_KEYS'));
  problems.push(...keyProblems);
  const corsOrigins = list(str('CORS_ORIGINS'));
  for (const origin of corsOrigins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      problems.push(
        `CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin such as https://shop.example.com`,
      );
    }
  }
  const defaultTtlSeconds = num('DEFAULT_TTL_SECONDS');
  const maxTtlSeconds = num('MAX_TTL_SECONDS');
  if (defaultTtlSeconds > maxTtlSeconds) {
    problems.push(
      `DEFAULT_TTL_SECONDS (${defaultTtlSeconds}) must not exceed MAX_TTL_SECONDS (${maxTtlSeconds})`,
    );
  }
  if (str('JOURNAL') === 'postgres' && str('DATABASE_URL') === '') {
    problems.push('DATABASE_URL is required when JOURNAL=postgres');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port: num('PORT'),
    host: str('HOST'),
    dataDir: str('DATA_DIR'),
    apiKeys: keys,
    logLevel: str('LOG_LEVEL') as LogLevel,
    corsOrigins,
    rateLimitPerMinute: num('RATE_LIMIT_PER_MINUTE'),
    defaultTtlSeconds,
    maxTtlSeconds,
    paymentPendingTtlSeconds: num('PAYMENT_PENDING_TTL_SECONDS'),
    requestTimeoutMs: num('REQUEST_TIMEOUT_MS'),
    maxSseClients: num('MAX_SSE_CLIENTS'),
    sseHeartbeatMs: num('SSE_HEARTBEAT_MS'),
    lowStockThreshold: num('LOW_STOCK_THRESHOLD'),
    bodyLimitBytes: num('BODY_LIMIT_BYTES'),
    maxInFlight: num('MAX_IN_FLIGHT'),
    shutdownTimeoutMs: num('SHUTDOWN_TIMEOUT_MS'),
    snapshotEveryRecords: num('SNAPSHOT_EVERY_RECORDS'),
    idempotencyRetentionSeconds: num('IDEMPOTENCY_RETENTION_SECONDS'),
    demoData: str('DEMO_DATA') === 'true',
    compactJournal: str('COMPACT_JOURNAL') === 'true',
    mailboxCapacity: num('MAILBOX_CAPACITY'),
    storeSilentAfterSeconds: num('STORE_SILENT_AFTER_SECONDS'),
    offlineBufferUnits: num('OFFLINE_BUFFER_UNITS'),
    journal: str('JOURNAL') as ApiConfig['journal'],
    databaseUrl: str('DATABASE_URL'),
    pgSchema: str('PG_SCHEMA'),
    nodeId: str('NODE_ID') || `${hostname()}-${process.pid}`,
    httpWorkers: num('HTTP_WORKERS'),
  };
}

const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
};

/**
 * Environment variables that look like a misspelt configuration variable (`API_KEY`, `MAX_TTL_SECOND`),
 * with the variable they probably meant. The environment holds many unrelated variables, so these
 * are reported as warnings at start-up rather than refused.
 */
export function lookalikeVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = Object.keys(variables);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (known.includes(name) || !name.includes('_') || name.length < 6) continue;
    const near = known.find((candidate) => editDistance(name, candidate) <= 2);
    if (near) warnings.push(`${name} is not a configuration variable; did you mean ${near}?`);
  }
  return warnings;
}

/** A config with an extra key, for the listener's generated admin key. */
export const withApiKeys = (config: ApiConfig, apiKeys: readonly ApiKey[]): ApiConfig => ({
  ...config,
  apiKeys,
});
