// The agent's local HTTP API, for the store's tills (plain node:http: four routes, on the till's
// critical path, so nothing between the socket and the journal but JSON parsing and validation).
//
//   POST /till/events  one event, a bare array, or { "events": [...] } (at most 1000): answered 201
//                      with the assigned seq(s) once the events are durable in the local journal.
//                      Never waits on the engine. With an Idempotency-Key a retry gets the first
//                      answer (header Idempotent-Replayed: true) instead of recording twice.
//   GET  /healthz      200 while the till can record (503 if the local journal cannot), with the
//                      forwarding and stream state.
//   GET  /metrics      Prometheus text.
//   GET  /stock        the local read model: this store's levels and online holds (?sku= filters).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TillEvent, TillEventInput } from './till-events.js';
import { TillEventInvalid, parseTillBody } from './till-events.js';
import type { RecordResult } from './till-journal.js';
import { TillKeyReused } from './till-journal.js';

export interface TillApiDeps {
  record(events: readonly TillEventInput[], idempotencyKey: string | undefined): Promise<RecordResult>;
  health(): { ok: boolean; body: Record<string, unknown> };
  metrics(): Promise<{ contentType: string; body: string }>;
  stock(sku: string | undefined): Record<string, unknown>;
  onRecorded(events: readonly TillEvent[], seconds: number): void;
  onRejected(outcome: 'invalid' | 'failed'): void;
}

const BODY_LIMIT = 1024 * 1024;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendProblem(res: http.ServerResponse, problem: HttpProblem): void {
  send(
    res,
    problem.status,
    {
      type: `urn:store-agent:problem:${problem.code.toLowerCase()}`,
      status: problem.status,
      code: problem.code,
      detail: problem.message,
      ...problem.extra,
    },
    'application/problem+json',
  );
}

/** Past the limit, a body is read and dropped up to this size so its sender can read the 413. */
const DISCARD_LIMIT = 16 * BODY_LIMIT;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DISCARD_LIMIT) {
        req.destroy();
        return;
      }
      if (size > BODY_LIMIT) {
        // Answered at once (with Connection: close); the rest of the body is read and dropped, so
        // the till is not cut off mid-send and reads the 413 rather than a reset connection.
        if (chunks.length > 0) chunks.length = 0;
        reject(new HttpProblem(413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${BODY_LIMIT} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const publicEvent = (event: TillEvent) => ({
  seq: event.seq,
  type: event.type,
  sku: event.sku,
  quantity: event.quantity,
  occurredAt: event.occurredAt,
  ...(event.reason === undefined ? {} : { reason: event.reason }),
});

async function handle(deps: TillApiDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://till.local');
  const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '') || '/'}`;
  switch (route) {
    case 'POST /till/events': {
      const started = performance.now();
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/json\b/i.test(type)) {
        throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the events as application/json');
      }
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (error) {
        if (error instanceof HttpProblem) throw error;
        deps.onRejected('invalid');
        throw new HttpProblem(400, 'MALFORMED_JSON', 'the body is not valid JSON');
      }
      let parsed: ReturnType<typeof parseTillBody>;
      try {
        parsed = parseTillBody(body);
      } catch (error) {
        if (!(error instanceof TillEventInvalid)) throw error;
        deps.onRejected('invalid');
        throw new HttpProblem(400, 'VALIDATION_FAILED', error.message, { problems: error.problems });
      }
      const key = req.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
        deps.onRejected('invalid');
        throw new HttpProblem(
          400,
          'VALIDATION_FAILED',
          'Idempotency-Key must be 1 to 255 visible ASCII characters',
        );
      }
      let recorded: TillEvent[];
      let replayed: boolean;
      try {
        ({ events: recorded, replayed } = await deps.record(parsed.events, key));
      } catch (error) {
        if (error instanceof TillKeyReused) {
          deps.onRejected('invalid');
          throw new HttpProblem(422, 'IDEMPOTENCY_KEY_REUSED', error.message);
        }
        deps.onRejected('failed');
        throw new HttpProblem(503, 'LOCAL_JOURNAL_UNAVAILABLE', `not recorded: ${(error as Error).message}`, {
          retryable: true,
        });
      }
      if (!replayed) deps.onRecorded(recorded, (performance.now() - started) / 1000);
      const first = recorded[0];
      const headers: Record<string, string> = replayed ? { 'idempotent-replayed': 'true' } : {};
      const answer =
        parsed.single && first
          ? publicEvent(first)
          : { firstSeq: first?.seq, lastSeq: recorded.at(-1)?.seq, events: recorded.map(publicEvent) };
      send(res, 201, answer, 'application/json', headers);
      return;
    }
    case 'GET /healthz': {
      const { ok, body } = deps.health();
      send(res, ok ? 200 : 503, body);
      return;
    }
    case 'GET /metrics': {
      const { contentType, body } = await deps.metrics();
      send(res, 200, body, contentType);
      return;
    }
    case 'GET /stock':
      send(res, 200, deps.stock(url.searchParams.get('sku') ?? undefined));
      return;
    default: {
      const known = ['/till/events', '/healthz', '/metrics', '/stock'].includes(url.pathname);
      throw known
        ? new HttpProblem(405, 'METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${url.pathname}`)
        : new HttpProblem(404, 'ROUTE_NOT_FOUND', `no resource at ${url.pathname}`);
    }
  }
}

export function createTillServer(deps: TillApiDeps, onError: (error: Error) => void): http.Server {
  const server = http.createServer((req, res) => {
    handle(deps, req, res).catch((error: unknown) => {
      if (res.headersSent) return;
      if (error instanceof HttpProblem) {
        if (error.status === 413) res.setHeader('connection', 'close');
        sendProblem(res, error);
        return;
      }
      onError(error as Error);
      sendProblem(res, new HttpProblem(500, 'INTERNAL', 'unexpected error'));
    });
  });
  server.keepAliveTimeout = 30_000;
  return server;
}
