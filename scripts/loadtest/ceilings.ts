// `--compare`: the same connections and duration against a bare Express 5 app and a plain node:http
// server on this machine, in this run. Their JSON POST and GET are the ceilings the engine's endpoints
// are divided by: how close the engine gets to what the framework (and Node itself) can do at all.
//
// The machine is shared, so each ceiling is measured right after the scenario it is compared with
// (GET after storefront-read, POST after reserve-spread): both figures of a ratio see the same load.
import path from 'node:path';
import type { PhaseResult } from './cannon.js';
import type { LoadTestOptions } from './options.js';
import type { CeilingKind, ChildServer } from './processes.js';
import { startCeilingServer } from './processes.js';
import { measure } from './scenario.js';
import { RESERVATION_TTL_SECONDS } from './scenarios/steps.js';

export interface CeilingResult {
  readonly kind: CeilingKind;
  readonly description: string;
  readonly post: PhaseResult;
  readonly get: PhaseResult;
}

/** The body of a reservation, as reserve-spread sends it. */
const POST_BODY = JSON.stringify({
  lines: [{ sku: 'rs0000-000123', quantity: 1 }],
  ttlSeconds: RESERVATION_TTL_SECONDS,
  channel: 'web',
});

const KINDS = ['express', 'http'] as const;
const DESCRIPTIONS: Record<CeilingKind, string> = {
  express: 'bare Express 5: express.json() + res.json() on POST, res.json() on GET, nothing else',
  http: 'plain node:http: JSON.parse of the body, JSON.stringify of the answer',
};

export class Ceilings {
  private readonly servers = new Map<CeilingKind, ChildServer>();
  private readonly measured = new Map<string, PhaseResult>();

  constructor(
    private readonly options: LoadTestOptions,
    private readonly tmpDir: string,
    private readonly progress: (line: string) => void,
  ) {}

  /** Starts both ceiling servers; they stay idle until measured. */
  async start(): Promise<void> {
    for (const kind of KINDS) {
      this.progress(
        `ceiling: starting the ${kind === 'express' ? 'bare Express 5' : 'plain node:http'} server`,
      );
      this.servers.set(kind, await startCeilingServer(kind, path.join(this.tmpDir, `ceiling-${kind}.log`)));
    }
  }

  /** Measures the POST or GET ceiling of both servers (once). */
  async measure(method: 'POST' | 'GET'): Promise<void> {
    for (const kind of KINDS) {
      const id = `${kind} ${method}`;
      const server = this.servers.get(kind);
      if (this.measured.has(id) || !server) continue;
      // The ceilings take the same headers as the engine's requests (and ignore them).
      const key = 'ceiling-key-0123456789abcdef';
      const context = {
        target: { url: server.url, adminKey: key, shopKey: key },
        options: this.options,
        progress: this.progress,
      };
      let counter = 0;
      const phase = await measure(context, {
        label: `${kind} ceiling ${method}`,
        key: 'shop',
        connections: this.options.connections,
        seconds: this.options.duration,
        script: () => [
          {
            build: () =>
              method === 'POST'
                ? {
                    kind: 'post',
                    method: 'POST',
                    path: '/v1/ceiling',
                    body: POST_BODY,
                    headers: { 'idempotency-key': `ceiling-${++counter}` },
                  }
                : { kind: 'get', method: 'GET', path: '/v1/ceiling' },
          },
        ],
      });
      this.measured.set(id, phase);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers.values()].map((server) => server.stop()));
    this.servers.clear();
  }

  /** Measures whatever is missing, then returns every ceiling. */
  async results(): Promise<CeilingResult[]> {
    await this.measure('POST');
    await this.measure('GET');
    return KINDS.flatMap((kind) => {
      const post = this.measured.get(`${kind} POST`);
      const get = this.measured.get(`${kind} GET`);
      return post && get ? [{ kind, description: DESCRIPTIONS[kind], post, get }] : [];
    });
  }
}
