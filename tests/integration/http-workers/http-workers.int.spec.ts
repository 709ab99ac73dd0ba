// HTTP_WORKERS=2 with the real server process (`node --import tsx api/server.ts`): a cluster primary
// running the engine and two HTTP workers sharing the port. Every request below opens its own
// connection, so the cluster's round-robin spreads them over both workers, and the test checks from
// the access logs that both served. The guarantees are those of one process: no oversell, idempotent
// replays across connections, one live stream for writes made anywhere, identical problem answers,
// nothing acknowledged lost when a worker is killed or the server is stopped and started again.
import http from 'node:http';
import { expect } from 'chai';
import { connectSse } from '../../support/api-sse.js';
import {
  apiKeysEnv,
  delay,
  keys,
  makeTemp,
  ManagedProcess,
  removeTemp,
  waitUntil,
} from '../../support/store-agent-processes.js';

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** One request on a new connection (no keep-alive agent), so successive calls reach different workers. */
function call(
  base: string,
  method: string,
  path: string,
  options: {
    body?: unknown;
    idempotencyKey?: string;
    key?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${base}${path}`,
      {
        method,
        agent: false,
        timeout: options.timeoutMs ?? 15_000,
        headers: {
          authorization: `Bearer ${options.key ?? keys.admin}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
          ...options.headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let json: Record<string, unknown>;
          try {
            json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
          } catch {
            json = {};
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Retries a write with the same Idempotency-Key until it is answered (a killed worker drops it). */
async function acknowledged(attempt: () => Promise<Answer>, tries = 40): Promise<Answer> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const answer = await attempt();
      if (answer.status < 500) return answer;
      last = new Error(`status ${answer.status}: ${JSON.stringify(answer.json)}`);
    } catch (error) {
      last = error;
    }
    await delay(50);
  }
  throw new Error(`not acknowledged after ${tries} tries: ${String(last)}`);
}

class WorkerServer extends ManagedProcess {
  url = '';
  pids: number[] = [];

  constructor(dataDir: string, env: Record<string, string> = {}, workers = 2) {
    super(
      'server with HTTP workers',
      () => ({
        args: ['api/server.ts'],
        env: {
          PORT: '0',
          HOST: '127.0.0.1',
          DATA_DIR: dataDir,
          API_KEYS: apiKeysEnv,
          // Access lines name the worker that served each request.
          LOG_LEVEL: 'info',
          RATE_LIMIT_PER_MINUTE: '0',
          DEMO_DATA: 'false',
          HTTP_WORKERS: String(workers),
          SHUTDOWN_TIMEOUT_MS: '5000',
          ...env,
        },
      }),
      workers > 0
        ? /listening on (http:\/\/\S+) [\s\S]*HTTP workers: \d+ \(pids ([\d, ]+)\)/
        : /listening on (http:\/\/\S+) /,
    );
  }

  override async start(timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const match = await super.start(timeoutMs);
    this.url = match[1] ?? '';
    this.pids = match[2] === undefined ? [] : match[2].split(', ').map(Number);
    return match;
  }

  /** Workers (by their log field) that served a request on a route matching `route`. */
  workersServing(route: RegExp): Set<number> {
    const workers = new Set<number>();
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { message?: string; route?: string; worker?: number };
        if (entry.message === 'request' && entry.route && route.test(entry.route) && entry.worker)
          workers.add(entry.worker);
      } catch {
        // a partial line
      }
    }
    return workers;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('http workers: HTTP_WORKERS=2, real processes', function () {
  this.timeout(180_000);
  let dir: string;
  let server: WorkerServer;
  const acknowledgedDeltas = new Map<string, number>();
  const heldReservations: string[] = [];

  before(async () => {
    dir = await makeTemp('http-workers');
    server = new WorkerServer(dir);
    await server.start();
    expect(server.pids).to.have.length(2);
    const location = await call(server.url, 'PUT', '/v1/locations/S1', {
      body: { name: 'Store', type: 'store' },
    });
    expect(location.status).to.equal(201);
    const count = await call(server.url, 'PUT', '/v1/locations/S1/stock/HOT', {
      body: { onHand: 10 },
      headers: { 'if-none-match': '*' },
    });
    expect(count.status).to.equal(200);
  });

  after(async () => {
    await server?.kill();
    await removeTemp(dir);
  });

  it('prints the banner once, with one URL for both workers', () => {
    expect(server.output.match(/listening on http/g)).to.have.length(1);
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const pid of server.pids) expect(alive(pid), `worker ${pid}`).to.equal(true);
  });

  it('serves concurrent reservations of a scarce SKU from both workers without overselling', async () => {
    const attempts = 40;
    const answers = await Promise.all(
      Array.from({ length: attempts }, (_, i) =>
        call(server.url, 'POST', '/v1/reservations', {
          key: keys.storefront,
          body: { lines: [{ sku: 'HOT', locationId: 'S1', quantity: 1 }], ttlSeconds: 600 },
          idempotencyKey: `hot-${i}`,
        }),
      ),
    );
    const created = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status === 409);
    expect(created).to.have.length(10);
    expect(refused).to.have.length(attempts - 10);
    for (const answer of refused) expect(answer.json['code']).to.equal('STOCK_INSUFFICIENT');
    heldReservations.push(...created.map((answer) => String(answer.json['id'])));

    const level = await call(server.url, 'GET', '/v1/locations/S1/stock/HOT');
    expect(level.json).to.include({ onHand: 10, reserved: 10, available: 0 });
    await waitUntil('access lines of both workers', () =>
      server.workersServing(/^\/v1\/reservations$/).size === 2 ? true : undefined,
    );
  });

  it('replays an idempotent retry sent on another connection', async () => {
    const body = { delta: 5, reason: 'receipt' };
    const first = await call(server.url, 'POST', '/v1/locations/S1/stock/TEE/adjustments', {
      body,
      idempotencyKey: 'receipt-1',
    });
    expect(first.status).to.equal(200);
    expect(first.headers['idempotent-replayed']).to.equal(undefined);
    acknowledgedDeltas.set('receipt-1', 5);
    for (let i = 0; i < 3; i++) {
      const retry = await call(server.url, 'POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body,
        idempotencyKey: 'receipt-1',
      });
      expect(retry.status).to.equal(200);
      expect(retry.headers['idempotent-replayed']).to.equal('true');
      expect(retry.json).to.deep.equal(first.json);
    }
    const level = await call(server.url, 'GET', '/v1/locations/S1/stock/TEE');
    expect(level.json['onHand']).to.equal(5);
  });

  it('streams to one connection what is written on others, and resumes with Last-Event-ID', async () => {
    const auth = { authorization: `Bearer ${keys.reader}` };
    const stream = await connectSse(`${server.url}/v1/stream?sku=SSE`, auth);
    try {
      expect(stream.status).to.equal(200);
      await stream.waitFor((s) => s.comments.includes('connected'));
      for (const [i, delta] of [3, 4].entries()) {
        const write = await call(server.url, 'POST', '/v1/locations/S1/stock/SSE/adjustments', {
          body: { delta, reason: 'receipt' },
          idempotencyKey: `sse-${i}`,
        });
        expect(write.status).to.equal(200);
      }
      await stream.waitFor((s) => s.messages.length >= 2, 10_000);
      const levels = stream.messages.map(
        (message) => (JSON.parse(message.data) as { level: { onHand: number } }).level.onHand,
      );
      expect(levels).to.deep.equal([3, 7]);

      const resumed = await connectSse(`${server.url}/v1/stream?sku=SSE`, {
        ...auth,
        'last-event-id': stream.messages[0]?.id ?? '',
      });
      try {
        await resumed.waitFor((s) => s.messages.length >= 1);
        expect(resumed.messages[0]?.id).to.equal(stream.messages[1]?.id);
      } finally {
        resumed.close();
      }
    } finally {
      stream.close();
    }
  });

  it('answers problem documents with the same status and code as one process', async () => {
    const missing = await call(server.url, 'GET', '/v1/locations/NOPE');
    expect(missing.status).to.equal(404);
    expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(missing.json).to.include({ code: 'LOCATION_NOT_FOUND', status: 404 });

    const short = await call(server.url, 'POST', '/v1/reservations', {
      key: keys.storefront,
      body: { lines: [{ sku: 'HOT', locationId: 'S1', quantity: 2 }], ttlSeconds: 600 },
      idempotencyKey: 'too-many',
    });
    expect(short.status).to.equal(409);
    expect(short.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(short.json).to.include({ code: 'STOCK_INSUFFICIENT', status: 409 });
    expect(short.json['lines']).to.deep.equal([{ sku: 'HOT', locationId: 'S1', requested: 2, available: 0 }]);
  });

  it('shows engine gauges and the requests of every worker on /metrics', async () => {
    const { text } = await call(server.url, 'GET', '/metrics');
    expect(text).to.include('stockline_engine_ready 1');
    expect(text).to.include('stockline_primary_process_cpu_seconds_total');
    const served =
      /stockline_http_request_duration_seconds_count\{method="POST",route="\/v1\/reservations",status="409"\} (\d+)/.exec(
        text,
      );
    // 30 refusals in the reservation test and one in the problem test, over both workers.
    expect(Number(served?.[1])).to.equal(31);
  });

  it('keeps answering when a worker is killed, replaces it, and loses no acknowledged write', async () => {
    const [victim] = server.pids;
    let killed = false;
    const writes = Array.from({ length: 30 }, (_, i) => `kill-${i}`);
    const results = await Promise.all(
      writes.map(async (key, i) => {
        await delay(i * 10);
        if (i === 10 && victim !== undefined) {
          process.kill(victim, 'SIGKILL');
          killed = true;
        }
        // A connection the primary was handing to the victim when it died is never answered (Node's
        // round-robin keeps it): give up on it soon and retry, as a client with a timeout would.
        const answer = await acknowledged(() =>
          call(server.url, 'POST', '/v1/locations/S1/stock/TEE/adjustments', {
            body: { delta: 1, reason: 'receipt' },
            idempotencyKey: key,
            timeoutMs: 3_000,
          }),
        );
        expect(answer.status, JSON.stringify(answer.json)).to.equal(200);
        acknowledgedDeltas.set(key, 1);
        return answer;
      }),
    );
    expect(killed).to.equal(true);
    expect(results).to.have.length(30);
    await waitUntil('the replacement worker', () =>
      /starting a replacement[\s\S]*HTTP worker listening/.test(server.output) ? true : undefined,
    );
    const level = await call(server.url, 'GET', '/v1/locations/S1/stock/TEE');
    const expected = [...acknowledgedDeltas.values()].reduce((sum, delta) => sum + delta, 0);
    expect(level.json['onHand']).to.equal(expected);
    expect((await call(server.url, 'GET', '/readyz')).status).to.equal(200);
  });

  it('stops on SIGTERM with exit code 0; after a restart the journal holds every acknowledged write', async () => {
    const pids = [...server.pids];
    expect(await server.stop(30_000)).to.equal(0);
    await waitUntil(
      'the workers to exit',
      () => (pids.every((pid) => !alive(pid)) ? true : undefined),
      5_000,
    );

    // Restart in one process (HTTP_WORKERS=0): the data is the engine's, whoever served it.
    server = new WorkerServer(dir, { LOG_LEVEL: 'warn' }, 0);
    await server.start();
    const tee = await call(server.url, 'GET', '/v1/locations/S1/stock/TEE');
    expect(tee.json['onHand']).to.equal(
      [...acknowledgedDeltas.values()].reduce((sum, delta) => sum + delta, 0),
    );
    const hot = await call(server.url, 'GET', '/v1/locations/S1/stock/HOT');
    expect(hot.json).to.include({ onHand: 10, reserved: 10 });
    for (const id of heldReservations) {
      const reservation = await call(server.url, 'GET', `/v1/reservations/${id}`);
      expect(reservation.status, id).to.equal(200);
      expect(reservation.json['status']).to.equal('held');
    }
  });
});

describe('http workers: failure and configuration', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(async () => {
    dir = await makeTemp('http-workers-fail');
  });
  afterEach(() => removeTemp(dir));

  it('takes the workers down when the engine process dies: no orphans', async () => {
    const server = new WorkerServer(dir, { LOG_LEVEL: 'warn' });
    await server.start();
    try {
      expect(server.pids.every(alive)).to.equal(true);
      await server.kill();
      await waitUntil(
        'the workers to exit',
        () => (server.pids.every((pid) => !alive(pid)) ? true : undefined),
        10_000,
      );
    } finally {
      for (const pid of server.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('refuses FAULT_INJECTION with HTTP workers, naming both', async () => {
    const server = new WorkerServer(dir, { FAULT_INJECTION: '1' });
    const failure = await server.start(30_000).then(
      () => undefined,
      (error: unknown) => String(error),
    );
    await server.kill();
    expect(failure).to.match(/exited \(2\)/);
    expect(failure).to.include('FAULT_INJECTION=1 cannot be combined with HTTP_WORKERS>0');
  });
});
