// Promise: a hot SKU at 100 times its mailbox capacity rejects the excess quickly with 429 (or 503 at the
// API's in-flight limit), completes every command it accepted, and keeps memory bounded. The real HTTP
// API and engine run in-process (tests/support/api-harness.ts) with a mailbox capacity of 10 and the
// journal's fdatasync held: every request of the burst arrives while storage is stalled, so what is
// answered before the disk comes back was answered without waiting for it.
//
// Guards against: an unbounded queue on one stock level under a flash sale (latency and memory grow
// with the crowd); excess requests that wait for storage before being refused; accepted commands lost
// when the backlog clears.
import { expect } from 'chai';
import type { ApiHarness } from '../support/api-harness.js';
import { keys, registerLocations, startApi } from '../support/api-harness.js';
import { FaultyFileOps } from '../support/faulty-file-ops.js';
import { rawRequest } from './harness/raw-http.js';
import { sleep } from './harness/rng.js';

const CAPACITY = 10;
const BURST = 100 * CAPACITY;
const MB = 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly code: unknown;
  readonly retryAfter: string | undefined;
}

interface Sent {
  readonly response: Promise<Answer>;
  answeredAt: number | undefined;
  result: Answer | undefined;
}

/** One reservation request on its own connection (a crowd of separate clients, not one pooled client). */
async function reserveOnce(api: ApiHarness, key: string): Promise<Answer> {
  const body = JSON.stringify({ lines: [{ sku: 'HOT', quantity: 1, locationId: 'S1' }], ttlSeconds: 600 });
  const response = await rawRequest(Number(new URL(api.baseUrl).port), {
    method: 'POST',
    target: '/v1/reservations',
    headers: [
      ['Authorization', `Bearer ${keys.storefront}`],
      ['Content-Type', 'application/json'],
      ['Idempotency-Key', key],
    ],
    body,
  });
  let code: unknown;
  try {
    code = (JSON.parse(response.body) as { code?: unknown }).code;
  } catch {
    code = undefined;
  }
  const retryAfter = /^retry-after: *(\S+)/im.exec(response.head)?.[1];
  return { status: response.status, code, retryAfter };
}

async function burst(api: ApiHarness, onHand: number, answeredEarly: number) {
  const files = (api as ApiHarness & { files?: FaultyFileOps }).files as FaultyFileOps;
  await registerLocations(api);
  const counted = await api.request('PUT', '/v1/locations/S1/stock/HOT', {
    body: { onHand },
    headers: { 'if-none-match': '*' },
    idempotencyKey: 'hot-count',
  });
  expect(counted.status, counted.text).to.equal(200);
  const baseline = process.memoryUsage();
  const held = files.holdNext('fdatasync');
  const started = Date.now();
  const sent: Sent[] = Array.from({ length: BURST }, (_, i) => {
    const entry: Sent = {
      response: reserveOnce(api, `hot-${onHand}-${i}`),
      answeredAt: undefined,
      result: undefined,
    };
    void entry.response.then((result) => {
      entry.answeredAt = Date.now();
      entry.result = result;
    });
    return entry;
  });
  await held.reached;
  // Everything beyond what the engine or the API accepted is answered while the disk is still stalled.
  const deadline = Date.now() + 20_000;
  while (sent.filter((entry) => entry.result).length < answeredEarly && Date.now() < deadline)
    await sleep(20);
  await sleep(200); // and nothing more is answered until it comes back
  const early = sent.filter((entry) => entry.result);
  const stalled = process.memoryUsage();
  const depth = api.engine.metrics().mailboxDepth;
  held.release();
  const results = await Promise.all(sent.map((entry) => entry.response));
  return { early, results, baseline, stalled, depth, started };
}

describe('reliability: a hot SKU at 100x its mailbox capacity (in-process HTTP, fsync held)', function () {
  this.timeout(60_000);

  describe('with stock to spare: the mailbox bound answers 429', () => {
    let api: ApiHarness;
    before(async () => {
      const files = new FaultyFileOps();
      api = await startApi({
        fileOps: files,
        engine: { mailboxCapacity: CAPACITY },
        env: { MAX_IN_FLIGHT: '5000' },
      });
      Object.assign(api, { files });
    });
    after(() => api.cleanup());

    it(`rejects ${BURST - CAPACITY} of ${BURST} at once with 429 MAILBOX_FULL and completes the ${CAPACITY} it took`, async () => {
      const { early, results, baseline, stalled, depth, started } = await burst(
        api,
        100_000,
        BURST - CAPACITY,
      );
      expect(early, 'answered while storage was stalled').to.have.length(BURST - CAPACITY);
      for (const entry of early) {
        expect(entry.result?.status).to.equal(429);
        expect(entry.result?.code).to.equal('MAILBOX_FULL');
        expect(entry.result?.retryAfter).to.match(/^\d+$/);
      }
      const slowest = Math.max(...early.map((entry) => (entry.answeredAt ?? Infinity) - started));
      expect(slowest, 'ms to refuse the whole excess').to.be.below(5_000);
      expect(depth, 'commands queued on the hot level').to.be.at.most(CAPACITY);
      const created = results.filter((result) => result.status === 201);
      expect(created, 'every accepted command completed').to.have.length(CAPACITY);
      expect(results.filter((result) => result.status !== 201 && result.status !== 429)).to.deep.equal([]);
      const level = await api.request('GET', '/v1/locations/S1/stock/HOT', { as: 'reader' });
      expect(level.json['reserved']).to.equal(CAPACITY);
      expect((stalled.heapUsed - baseline.heapUsed) / MB, 'heap growth (MB) under the burst').to.be.below(
        150,
      );
    });
  });

  describe('sold out: refusals wait for the last append, so the API in-flight limit bounds them with 503', () => {
    const MAX_IN_FLIGHT = 100;
    let api: ApiHarness;
    before(async () => {
      const files = new FaultyFileOps();
      api = await startApi({
        fileOps: files,
        engine: { mailboxCapacity: CAPACITY },
        env: { MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) },
      });
      Object.assign(api, { files });
    });
    after(() => api.cleanup());

    it('sheds the excess at once, then answers every accepted request: the last units held, the rest 409', async () => {
      const onHand = 5;
      const { early, results, baseline, stalled } = await burst(api, onHand, BURST - MAX_IN_FLIGHT);
      expect(early.length, 'answered while storage was stalled').to.equal(BURST - MAX_IN_FLIGHT);
      for (const entry of early) {
        expect(entry.result?.status, String(entry.result?.code)).to.be.oneOf([429, 503]);
      }
      const created = results.filter((result) => result.status === 201);
      expect(created, 'exactly the units on hand were held').to.have.length(onHand);
      const insufficient = results.filter((result) => result.status === 409);
      expect(insufficient.every((result) => result.code === 'STOCK_INSUFFICIENT')).to.equal(true);
      expect(created.length + insufficient.length, 'every accepted request completed').to.equal(
        MAX_IN_FLIGHT,
      );
      expect((stalled.heapUsed - baseline.heapUsed) / MB, 'heap growth (MB) under the burst').to.be.below(
        150,
      );
    });
  });
});
