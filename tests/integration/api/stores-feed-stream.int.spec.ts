// Store till events, the changes feed and the live stream over HTTP against the real engine.
//
// Guards against: a store's duplicate delivery applied twice; a gap silently accepted; a stream
// consumer that reconnects losing or repeating changes while writes keep arriving.
import { expect } from 'chai';
import type { FeedItem } from '../../../engine/types.js';
import type { ApiHarness } from '../../support/api-harness.js';
import {
  expectProblem,
  expectSchema,
  keys,
  registerLocations,
  setOnHand,
  startApi,
} from '../../support/api-harness.js';
import { connectSse } from '../../support/api-sse.js';

const base = Date.now() - 60_000;
const at = (offsetMs = 0) => new Date(base + offsetMs).toISOString();

describe('api: store events, feed and stream', function () {
  this.timeout(60_000);
  let api: ApiHarness;
  beforeEach(async () => {
    api = await startApi({ env: { MAX_SSE_CLIENTS: '3', SSE_HEARTBEAT_MS: '200' } });
    await registerLocations(api);
  });
  afterEach(() => api.cleanup());

  describe('POST /v1/stores/{storeId}/events', () => {
    const post = (events: unknown[], idempotencyKey: string, as: 'storeS1' | 'admin' = 'storeS1') =>
      api.request('POST', '/v1/stores/S1/events', { as, body: { events }, idempotencyKey });

    it('applies an ordered batch, acknowledges duplicates without reapplying, answers a gap with expectedSeq', async () => {
      await setOnHand(api, 'S1', 'TEE', 10);
      const first = await post(
        [
          { seq: 1, type: 'sale', sku: 'TEE', quantity: 2, occurredAt: at(1) },
          { seq: 2, type: 'return', sku: 'TEE', quantity: 1, occurredAt: at(2) },
          { seq: 3, type: 'adjustment', sku: 'TEE', quantity: -1, occurredAt: at(3), reason: 'damage' },
        ],
        'b1',
      );
      expect(first.status, first.text).to.equal(200);
      expectSchema(api, 'StoreEventsResult', first.json);
      expect(first.json).to.deep.equal({ applied: 3, duplicates: 0, lastSeq: 3 });
      const overlap = await post(
        [
          { seq: 3, type: 'adjustment', sku: 'TEE', quantity: -1, occurredAt: at(3), reason: 'damage' },
          { seq: 4, type: 'receipt', sku: 'TEE', quantity: 5, occurredAt: at(4) },
        ],
        'b2',
      );
      expect(overlap.json).to.deep.equal({ applied: 1, duplicates: 1, lastSeq: 4 });
      expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({
        onHand: 10 - 2 + 1 - 1 + 5,
      });
      const before = (await api.records()).length;
      const gap = await post([{ seq: 7, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: at(7) }], 'b3');
      expectProblem(api, gap, 409, 'STORE_SEQUENCE_GAP');
      expect(gap.json).to.include({ expectedSeq: 5 });
      expect(await api.records()).to.have.length(before);
      const position = await api.request('GET', '/v1/stores/S1', { as: 'storeS1' });
      expectSchema(api, 'StoreStatus', position.json);
      expect(position.json).to.deep.equal({ storeId: 'S1', lastSeq: 4 });
      const sold = (await api.records())
        .flatMap((record) => record.events)
        .find((event) => event.type === 'StockSold');
      expect(sold).to.deep.include({ quantity: 2, source: { storeId: 'S1', seq: 1, occurredAt: at(1) } });
    });

    it('a sale on units held online is recorded anyway (AP) and flags the reservation at risk', async () => {
      await setOnHand(api, 'S1', 'TEE', 2);
      const held = await api.request('POST', '/v1/reservations', {
        as: 'storefront',
        body: { lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }] },
        idempotencyKey: 'r',
      });
      const sale = await post([{ seq: 1, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: at() }], 's');
      expect(sale.status, sale.text).to.equal(200);
      const types = (await api.records()).flatMap((record) => record.events.map((event) => event.type));
      expect(types).to.include('ReservationAtRisk');
      expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({ onHand: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const reservation = await api.request('GET', `/v1/reservations/${String(held.json.id)}`);
      expect(reservation.json.status).to.equal('at_risk');
    });

    it('refuses seq 0, a zero adjustment, a negative sale and an unknown event type with 400', async () => {
      for (const event of [
        { seq: 0, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: at() },
        { seq: 1, type: 'adjustment', sku: 'TEE', quantity: 0, occurredAt: at() },
        { seq: 1, type: 'sale', sku: 'TEE', quantity: -1, occurredAt: at() },
        { seq: 1, type: 'theft', sku: 'TEE', quantity: 1, occurredAt: at() },
        { seq: 1, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: 'yesterday' },
      ]) {
        expectProblem(
          api,
          await post([event], `bad-${JSON.stringify(event)}`.slice(0, 200)),
          400,
          'VALIDATION_FAILED',
        );
      }
      expect(api.engine.lastStoreSeq('S1')).to.equal(0);
    });
  });

  describe('GET /v1/events', () => {
    it('pages through every committed event in order with gap-free stream versions', async () => {
      await setOnHand(api, 'S1', 'A', 3);
      for (let i = 0; i < 5; i++) {
        await api.request('POST', '/v1/locations/S1/stock/A/adjustments', {
          body: { delta: 1, reason: 'receipt' },
          idempotencyKey: `e-${i}`,
        });
      }
      const seen: FeedItem[] = [];
      let after: string | undefined;
      for (let page = 0; page < 20; page++) {
        const response = await api.request('GET', `/v1/events?limit=3${after ? `&after=${after}` : ''}`, {
          as: 'reader',
        });
        expect(response.status).to.equal(200);
        expectSchema(api, 'FeedPage', response.json);
        const items = response.json.items as FeedItem[];
        if (items.length === 0) {
          expect(response.json.next).to.equal(after);
          break;
        }
        seen.push(...items);
        after = String(response.json.next);
      }
      expect(seen.map((item) => item.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const stock = seen.filter((item) => item.stream === 'stock/A/S1');
      expect(stock.map((item) => item.version)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(stock[5]?.level).to.include({ onHand: 8 });
    });

    it('refuses a malformed cursor and an out-of-range limit with 400', async () => {
      expectProblem(api, await api.request('GET', '/v1/events?after=x.y'), 400, 'VALIDATION_FAILED');
      expectProblem(api, await api.request('GET', '/v1/events?limit=1001'), 400, 'VALIDATION_FAILED');
      expectProblem(api, await api.request('GET', '/v1/events?limit=1&limit=2'), 400, 'VALIDATION_FAILED');
      expectProblem(api, await api.request('GET', '/v1/events?page=2'), 400, 'VALIDATION_FAILED');
    });
  });

  describe('GET /v1/stream', () => {
    const streamUrl = (query = '') => `${api.baseUrl}/v1/stream${query}`;
    const auth = (key: string = keys.reader) => ({ authorization: `Bearer ${key}` });
    const items = (messages: { data: string }[]) =>
      messages.map((message) => JSON.parse(message.data) as FeedItem);

    it('streams live changes with ids, versions and threshold signals, and heartbeats', async () => {
      await setOnHand(api, 'S1', 'A', 10);
      const stream = await connectSse(streamUrl(), auth());
      expect(stream.status).to.equal(200);
      expect(stream.headers['content-type']).to.match(/^text\/event-stream/);
      await setOnHand(api, 'S1', 'A', 3);
      await setOnHand(api, 'S1', 'A', 0);
      await stream.waitFor((s) => s.messages.length >= 2);
      const received = items(stream.messages);
      expect(received.map((item) => item.level?.onHand)).to.deep.equal([3, 0]);
      expect(received.map((item) => item.version)).to.deep.equal([2, 3]);
      expect(received.map((item) => item.signals)).to.deep.equal([['low_stock'], ['out_of_stock']]);
      expect(stream.messages.map((message) => message.id)).to.deep.equal(received.map((item) => item.id));
      await stream.waitFor((s) => s.comments.some((comment) => comment.startsWith('heartbeat')), 2000);
      stream.close();
    });

    it('filters by location and SKU', async () => {
      const stream = await connectSse(streamUrl('?locationId=S1&sku=A,B'), auth());
      await setOnHand(api, 'S2', 'A', 1);
      await setOnHand(api, 'S1', 'C', 1);
      await setOnHand(api, 'S1', 'B', 2);
      await setOnHand(api, 'S1', 'A', 3);
      await stream.waitFor((s) => s.messages.length >= 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(items(stream.messages).map((item) => [item.level?.sku, item.level?.locationId])).to.deep.equal([
        ['B', 'S1'],
        ['A', 'S1'],
      ]);
      stream.close();
    });

    it('resumes with Last-Event-ID while writes keep arriving: nothing lost, nothing repeated', async () => {
      await setOnHand(api, 'S1', 'A', 0);
      let writing = true;
      let written = 0;
      const writer = (async () => {
        while (writing) {
          const response = await api.request('POST', '/v1/locations/S1/stock/A/adjustments', {
            body: { delta: 1, reason: 'receipt' },
            idempotencyKey: `w-${written}`,
          });
          expect(response.status).to.equal(200);
          written++;
        }
      })();
      const first = await connectSse(streamUrl('?sku=A'), auth());
      await first.waitFor((s) => s.messages.length >= 15);
      first.close();
      const lastId = first.messages[first.messages.length - 1]?.id ?? '';
      await new Promise((resolve) => setTimeout(resolve, 50)); // changes happen while disconnected
      const second = await connectSse(streamUrl('?sku=A'), { ...auth(), 'last-event-id': lastId });
      await second.waitFor((s) => s.messages.length >= 30, 10_000);
      writing = false;
      await writer;
      const target = written + 1; // the count plus every adjustment
      await second.waitFor((s) => items(s.messages).some((item) => item.version === target), 10_000);
      second.close();
      const versions = [...items(first.messages), ...items(second.messages)].map((item) => item.version);
      const start = versions[0] ?? 0;
      expect(versions).to.deep.equal(Array.from({ length: target - start + 1 }, (_, i) => start + i));
    });

    it('resumes from a cursor given as ?after= on a first connection', async () => {
      await setOnHand(api, 'S1', 'A', 1);
      await setOnHand(api, 'S1', 'A', 2);
      await setOnHand(api, 'S1', 'A', 3);
      const feed = await api.request('GET', '/v1/events');
      const all = feed.json.items as FeedItem[];
      const cursor = all[all.length - 2]?.id ?? '';
      const stream = await connectSse(streamUrl(`?after=${cursor}`), auth());
      await stream.waitFor((s) => s.messages.length >= 1);
      expect(items(stream.messages).map((item) => item.level?.onHand)).to.deep.equal([3]);
      stream.close();
    });

    it('refuses a malformed Last-Event-ID (400), no key (401), and clients beyond the limit (503 + Retry-After)', async () => {
      const bad = await connectSse(streamUrl(), { ...auth(), 'last-event-id': 'nope' });
      expect(bad.status).to.equal(400);
      expect(JSON.parse(bad.body() || (await bad.ended, bad.body()))).to.include({
        code: 'VALIDATION_FAILED',
      });
      const anonymous = await connectSse(streamUrl());
      expect(anonymous.status).to.equal(401);
      const open = await Promise.all([1, 2, 3].map(() => connectSse(streamUrl(), auth())));
      expect(open.map((stream) => stream.status)).to.deep.equal([200, 200, 200]);
      const refused = await connectSse(streamUrl(), auth());
      expect(refused.status).to.equal(503);
      expect(refused.headers['retry-after']).to.equal('5');
      await refused.ended;
      expect(JSON.parse(refused.body())).to.include({ code: 'TOO_MANY_STREAMS' });
      for (const stream of open) stream.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await connectSse(streamUrl(), auth());
      expect(again.status).to.equal(200);
      again.close();
    });
  });
});
