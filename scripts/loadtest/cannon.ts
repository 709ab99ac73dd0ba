// One measured phase on autocannon's programmatic API. Each connection runs its own script: a list
// of steps whose requests are built right before they are sent (fresh Idempotency-Keys, the next
// store sequence, the id a previous answer returned), with one request in flight per connection, so
// a connection's requests reach the server in order. Latency and status are recorded per request
// kind from autocannon's `response` event (exact float milliseconds, see stats.ts).
import os from 'node:os';
import autocannon from 'autocannon';
import type { KindSummary, LatencySummary } from './stats.js';
import { Recorder } from './stats.js';

export interface RequestSpec {
  /** Label of the request in the report (reserve, confirm, single...). */
  readonly kind: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  /** A JSON text; Content-Type is set when present. */
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Step {
  /** The next request, or null to skip back to the first step (for example: no reservation to confirm). */
  build(): RequestSpec | null;
  onResponse?(status: number, body: string): void;
}

/** The steps one connection repeats, given the connection's index (0..connections-1). */
export type ClientScript = (connection: number) => readonly Step[];

export interface PhaseSpec {
  readonly label: string;
  readonly url: string;
  readonly connections: number;
  /** Run for this long... */
  readonly seconds?: number;
  /** ...or until this many requests were answered (spread over the connections). */
  readonly amount?: number;
  /** Requests per second over all connections; unlimited when absent. */
  readonly overallRate?: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly script: ClientScript;
  readonly progress: (line: string) => void;
  readonly timeoutSeconds?: number;
}

export interface PhaseResult {
  readonly label: string;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
  /** Every answer by HTTP status. */
  readonly statuses: Record<string, number>;
  /** Connection errors and timeouts (no HTTP answer at all). */
  readonly errors: number;
  readonly timeouts: number;
  readonly byKind: Record<string, KindSummary>;
  /** Engine snapshots written while the phase ran (read from the server's log afterwards). */
  snapshots?: number;
  /** The machine's 1-minute load average when the phase ended (the machine is shared: say so). */
  readonly loadAverage: number;
  /** The phase's window: process.hrtime.bigint() in ns (the profiler's clock) and Date.now() in ms. */
  readonly window: {
    readonly startNs: string;
    readonly endNs: string;
    readonly startMs: number;
    readonly endMs: number;
  };
}

/** A phase's result from its recorder: what every phase reports, autocannon's or the paced one. */
export function phaseResult(
  spec: { readonly label: string; readonly connections: number },
  recorder: Recorder,
  run: {
    readonly seconds: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly window: PhaseResult['window'];
  },
): PhaseResult {
  return {
    label: spec.label,
    connections: spec.connections,
    seconds: Math.round(run.seconds * 100) / 100,
    requests: recorder.count,
    requestsPerSecond: Math.round(recorder.count / run.seconds),
    latency: recorder.latency(),
    statuses: recorder.statusCounts(),
    errors: run.errors,
    timeouts: run.timeouts,
    byKind: recorder.byKind(run.seconds),
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    window: run.window,
  };
}

interface ConnectionState {
  kind: string;
}

// autocannon's typings want setupRequest to return a Request; a falsy value is its documented way to
// restart the connection's sequence, which the typings do not express.
const RESTART = null as unknown as autocannon.Request;

function toRequest(step: Step, state: ConnectionState): autocannon.Request {
  return {
    setupRequest: (request) => {
      const spec = step.build();
      if (!spec) return RESTART;
      state.kind = spec.kind;
      request.method = spec.method;
      request.path = spec.path;
      const headers: Record<string, string> = {
        ...(request.headers as Record<string, string>),
        ...spec.headers,
      };
      if (spec.body !== undefined) {
        headers['content-type'] = 'application/json';
        request.body = spec.body;
      } else {
        delete headers['content-type'];
        request.body = '';
      }
      request.headers = headers;
      return request;
    },
    onResponse: (status, body) => step.onResponse?.(status, body),
  };
}

export function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  const recorder = new Recorder();
  const states = new WeakMap<object, ConnectionState>();
  let nextConnection = 0;
  return new Promise<PhaseResult>((resolve, reject) => {
    const startNs = process.hrtime.bigint();
    const startMs = Date.now();
    const started = performance.now();
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.seconds ?? 10 }),
        ...(spec.overallRate !== undefined ? { overallRate: spec.overallRate } : {}),
        timeout: spec.timeoutSeconds ?? 10,
        headers: { ...spec.headers },
        // A placeholder: every connection replaces it with its own script in setupClient.
        requests: [{ method: 'GET', path: '/healthz' }],
        setupClient: (client) => {
          const state: ConnectionState = { kind: 'unknown' };
          states.set(client, state);
          const steps = spec.script(nextConnection++);
          client.setRequests(steps.map((step) => toRequest(step, state)));
        },
      },
      (error, result) => {
        clearInterval(ticker);
        const endNs = process.hrtime.bigint();
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const seconds = result.duration > 0 ? result.duration : (performance.now() - started) / 1000;
        resolve(
          phaseResult(spec, recorder, {
            seconds,
            errors: result.errors,
            timeouts: result.timeouts,
            window: { startNs: String(startNs), endNs: String(endNs), startMs, endMs: Date.now() },
          }),
        );
      },
    );
    instance.on('response', (client, status, _bytes, responseTime) => {
      recorder.record(states.get(client)?.kind ?? 'unknown', status, responseTime);
    });
    let second = 0;
    let failures = 0;
    instance.on('reqError', () => failures++);
    const total = spec.seconds;
    const ticker = setInterval(() => {
      second++;
      const count = recorder.tickCount;
      recorder.tickCount = 0;
      const non2xx = Object.entries(recorder.statusCounts())
        .filter(([status]) => !status.startsWith('2'))
        .map(([status, n]) => `${status}:${n}`)
        .join(' ');
      spec.progress(
        `  [${spec.label}] ${second}s${total !== undefined && spec.amount === undefined ? `/${total}s` : ''}  ${count.toLocaleString('en-US')} req/s` +
          (non2xx ? `  non-2xx so far ${non2xx}` : '') +
          (failures > 0 ? `  errors ${failures}` : ''),
      );
    }, 1000);
    ticker.unref();
  });
}
