// Stock endpoints over HTTP against the real engine and journal: the storefront view, batch reads,
// one level with its ETag, counts under If-Match (428, 412, 200), adjustments, the ledger, the level
// at a past time, and what each write put in the journal.
import { expect } from 'chai';
import type { ApiHarness } from '../../support/api-harness.js';
import {
  expectProblem,
  expectSchema,
  registerLocations,
  setOnHand,
  startApi,
} from '../../support/api-harness.js';

describe('api: stock', function () {
  this.timeout(30_000);
  let api: ApiHarness;
  beforeEach(async () => {
    api = await startApi();
    await registerLocations(api);
  });
  afterEach(() => api.cleanup());

  describe('reads', () => {
    it('GET /v1/stock/{sku}: totals and each location, sorted', async () => {
      await setOnHand(api, 'S2', 'TEE', 4);
      await setOnHand(api, 'S1', 'TEE', 10, 2);
      const response = await api.request('GET', '/v1/stock/TEE', { as: 'storefront' });
      expect(response.status).to.equal(200);
      expectSchema(api, 'StorefrontStock', response.json);
      expect(response.json.totals).to.deep.equal({ onHand: 14, reserved: 0, safetyStock: 2, available: 12 });
      const locations = response.json.locations as { locationId: string; available: number }[];
      expect(locations.map((level) => [level.locationId, level.available])).to.deep.equal([
        ['S1', 8],
        ['S2', 4],
      ]);
    });

    it('GET /v1/stock/{sku} of an unknown SKU: zero totals, no locations', async () => {
      const response = await api.request('GET', '/v1/stock/GHOST', { as: 'reader' });
      expect(response.status).to.equal(200);
      expect(response.json).to.deep.equal({
        sku: 'GHOST',
        totals: { onHand: 0, reserved: 0, safetyStock: 0, available: 0 },
        locations: [],
      });
    });

    it('GET /v1/stock?skus=: one view per distinct SKU, in order; over 100 SKUs is refused', async () => {
      await setOnHand(api, 'S1', 'A', 1);
      await setOnHand(api, 'S1', 'B', 2);
      const response = await api.request('GET', '/v1/stock?skus=B,A,B,C', { as: 'reader' });
      expect(response.status).to.equal(200);
      expectSchema(api, 'StockBatchRead', response.json);
      const items = response.json.items as { sku: string; totals: { onHand: number } }[];
      expect(items.map((item) => [item.sku, item.totals.onHand])).to.deep.equal([
        ['B', 2],
        ['A', 1],
        ['C', 0],
      ]);
      const tooMany = Array.from({ length: 101 }, (_, i) => `K${i}`).join(',');
      expectProblem(api, await api.request('GET', `/v1/stock?skus=${tooMany}`), 400, 'VALIDATION_FAILED');
      expectProblem(api, await api.request('GET', '/v1/stock'), 400, 'VALIDATION_FAILED');
      expectProblem(api, await api.request('GET', '/v1/stock?skus=A,,B'), 400, 'VALIDATION_FAILED');
    });

    it('GET one level: ETag from its version; 404 for an unknown level or location', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      const response = await api.request('GET', '/v1/locations/S1/stock/TEE', { as: 'reader' });
      expect(response.status).to.equal(200);
      expect(response.headers.get('etag')).to.equal('"1"');
      expectSchema(api, 'StockLevel', response.json);
      expect(response.json).to.include({ sku: 'TEE', locationId: 'S1', onHand: 5, available: 5, version: 1 });
      // fetch adds Cache-Control: no-cache to conditional requests unless one is given.
      const conditional = (etag: string) => ({ 'if-none-match': etag, 'cache-control': 'max-age=0' });
      const unchanged = await api.request('GET', '/v1/locations/S1/stock/TEE', {
        headers: conditional('"1"'),
      });
      expect(unchanged.status).to.equal(304);
      const changed = await api.request('GET', '/v1/locations/S1/stock/TEE', { headers: conditional('"0"') });
      expect(changed.status).to.equal(200);
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/S1/stock/NONE'),
        404,
        'STOCK_LEVEL_NOT_FOUND',
      );
      expectProblem(api, await api.request('GET', '/v1/locations/ZZ/stock/TEE'), 404, 'LOCATION_NOT_FOUND');
    });

    it('GET one level ?at=: the level as it was then', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const between = new Date().toISOString();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await setOnHand(api, 'S1', 'TEE', 9);
      const past = await api.request('GET', `/v1/locations/S1/stock/TEE?at=${encodeURIComponent(between)}`);
      expect(past.status).to.equal(200);
      expect(past.json).to.include({ onHand: 5, version: 1 });
      const now = await api.request('GET', '/v1/locations/S1/stock/TEE');
      expect(now.json).to.include({ onHand: 9, version: 2 });
      const before = await api.request('GET', '/v1/locations/S1/stock/TEE?at=2000-01-01T00:00:00Z');
      expectProblem(api, before, 404, 'STOCK_LEVEL_NOT_FOUND');
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/S1/stock/TEE?at=yesterday'),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('counts (PUT, If-Match)', () => {
    it('without If-Match: 428 with the current version and quantities, nothing journaled', async () => {
      await setOnHand(api, 'S1', 'TEE', 7);
      const before = (await api.records()).length;
      const response = await api.request('PUT', '/v1/locations/S1/stock/TEE', { body: { onHand: 3 } });
      expectProblem(api, response, 428, 'PRECONDITION_REQUIRED');
      expect(response.json).to.include({
        currentVersion: 1,
        onHand: 7,
        reserved: 0,
        safetyStock: 0,
        available: 7,
      });
      expect(response.headers.get('etag')).to.equal('"1"');
      expect(await api.records()).to.have.length(before);
    });

    it('with a stale If-Match: 412 VERSION_CONFLICT with the current version and quantities', async () => {
      await setOnHand(api, 'S1', 'TEE', 7);
      await setOnHand(api, 'S1', 'TEE', 8);
      const before = (await api.records()).length;
      const response = await api.request('PUT', '/v1/locations/S1/stock/TEE', {
        body: { onHand: 3 },
        headers: { 'if-match': '"1"' },
      });
      expectProblem(api, response, 412, 'VERSION_CONFLICT');
      expect(response.json).to.include({ expectedVersion: 1, currentVersion: 2, onHand: 8, available: 8 });
      expect(response.headers.get('etag')).to.equal('"2"');
      expect(await api.records()).to.have.length(before);
    });

    it('with the current ETag: 200, new ETag, StockCounted (and SafetyStockSet) journaled', async () => {
      const created = await api.request('PUT', '/v1/locations/S1/stock/TEE', {
        body: { onHand: 12, safetyStock: 2 },
        headers: { 'if-none-match': '*' },
      });
      expect(created.status, created.text).to.equal(200);
      expect(created.headers.get('etag')).to.equal('"2"');
      expect(created.json).to.include({ onHand: 12, safetyStock: 2, available: 10, version: 2 });
      const records = await api.records();
      const last = records[records.length - 1];
      expect(last?.stream).to.equal('stock/TEE/S1');
      expect(last?.events.map((event) => event.type)).to.deep.equal(['StockCounted', 'SafetyStockSet']);
      expect(last?.events[0]).to.include({
        onHand: 12,
        previousOnHand: 0,
        by: 'admin#' + String(api.config.apiKeys[0]?.id),
      });
      const again = await api.request('PUT', '/v1/locations/S1/stock/TEE', {
        body: { onHand: 1 },
        headers: { 'if-none-match': '*' },
      });
      expectProblem(api, again, 412, 'VERSION_CONFLICT');
    });

    it('refuses a malformed If-Match, a negative or fractional count with 400', async () => {
      const badTag = await api.request('PUT', '/v1/locations/S1/stock/TEE', {
        body: { onHand: 1 },
        headers: { 'if-match': 'W/"0"' },
      });
      expectProblem(api, badTag, 400, 'VALIDATION_FAILED');
      for (const onHand of [-1, 1.5, '3', 1_000_000_001]) {
        const response = await api.request('PUT', '/v1/locations/S1/stock/TEE', {
          body: { onHand },
          headers: { 'if-match': '"0"' },
        });
        expectProblem(api, response, 400, 'VALIDATION_FAILED');
      }
      expect((await api.records()).filter((record) => record.stream.startsWith('stock/'))).to.have.length(0);
    });
  });

  describe('adjustments (POST)', () => {
    it('applies a delta with its reason and reference: 200 with the level and events', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      const response = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { delta: -2, reason: 'damage', reference: 'RMA-7' },
        idempotencyKey: 'adj-1',
      });
      expect(response.status, response.text).to.equal(200);
      expectSchema(api, 'AdjustmentResult', response.json);
      expect(response.json.level).to.include({ onHand: 3, version: 2 });
      expect(response.headers.get('etag')).to.equal('"2"');
      const records = await api.records();
      expect(records[records.length - 1]?.events[0]).to.include({
        type: 'StockAdjusted',
        delta: -2,
        reason: 'damage',
        reference: 'RMA-7',
      });
    });

    it('refuses to go below zero (409 STOCK_NEGATIVE), a stale expectedVersion (412), a zero delta (400)', async () => {
      await setOnHand(api, 'S1', 'TEE', 1);
      const before = (await api.records()).length;
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: -2, reason: 'damage' },
          idempotencyKey: 'a',
        }),
        409,
        'STOCK_NEGATIVE',
      );
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 1, reason: 'receipt', expectedVersion: 0 },
          idempotencyKey: 'b',
        }),
        412,
        'VERSION_CONFLICT',
      );
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 0, reason: 'receipt' },
          idempotencyKey: 'c',
        }),
        400,
        'VALIDATION_FAILED',
      );
      expect(await api.records()).to.have.length(before);
    });

    it('needs an Idempotency-Key; a retry replays the first answer and applies once', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 1, reason: 'receipt' },
        }),
        400,
        'IDEMPOTENCY_KEY_REQUIRED',
      );
      const first = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { delta: 3, reason: 'receipt' },
        idempotencyKey: 'once',
      });
      const retry = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { reason: 'receipt', delta: 3 },
        idempotencyKey: 'once',
      });
      expect(retry.status).to.equal(first.status);
      expect(retry.json).to.deep.equal(first.json);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      const level = await api.request('GET', '/v1/locations/S1/stock/TEE');
      expect(level.json).to.include({ onHand: 8, version: 2 });
      const reused = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { delta: 4, reason: 'receipt' },
        idempotencyKey: 'once',
      });
      expectProblem(api, reused, 422, 'IDEMPOTENCY_KEY_REUSED');
    });

    it('400 concurrent adjustments of one SKU over HTTP lose no update', async () => {
      await setOnHand(api, 'S1', 'HOT', 0);
      const responses = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          api.request('POST', '/v1/locations/S1/stock/HOT/adjustments', {
            body: { delta: i % 2 ? 3 : 2, reason: 'receipt' },
            idempotencyKey: `c-${i}`,
          }),
        ),
      );
      expect(responses.every((response) => response.status === 200)).to.equal(true);
      const level = await api.request('GET', '/v1/locations/S1/stock/HOT');
      expect(level.json).to.include({ onHand: 200 * 3 + 200 * 2, version: 401 });
    });
  });

  describe('history', () => {
    it('pages through the ledger of one level, oldest first, with actor, reason and reference', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      await setOnHand(api, 'S1', 'OTHER', 5);
      for (let i = 0; i < 4; i++) {
        await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 1, reason: 'receipt', reference: `PO-${i}` },
          idempotencyKey: `h-${i}`,
        });
      }
      const seen: { type: string; version: number; event: Record<string, unknown> }[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const response = await api.request(
          'GET',
          `/v1/locations/S1/stock/TEE/history?limit=2${after ? `&after=${after}` : ''}`,
          { as: 'reader' },
        );
        expect(response.status).to.equal(200);
        expectSchema(api, 'FeedPage', response.json);
        const items = response.json.items as typeof seen;
        if (items.length === 0) break;
        seen.push(...items);
        after = response.json.next as string;
      }
      expect(seen.map((item) => item.version)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(seen[0]?.type).to.equal('StockCounted');
      expect(seen[4]?.event).to.include({ type: 'StockAdjusted', reason: 'receipt', reference: 'PO-3' });
      expect(String(seen[4]?.event.by)).to.match(/^admin#[0-9a-f]{16}$/);
    });

    it('404 for an unknown location; 400 for a bad cursor or limit', async () => {
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/ZZ/stock/TEE/history'),
        404,
        'LOCATION_NOT_FOUND',
      );
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/S1/stock/TEE/history?after=abc'),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/S1/stock/TEE/history?limit=0'),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        api,
        await api.request('GET', '/v1/locations/S1/stock/TEE/history?limit=5000'),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('batch writes', () => {
    it('per_row: applies the good rows and reports each row', async () => {
      await setOnHand(api, 'S1', 'A', 5);
      const response = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body: {
          policy: 'per_row',
          rows: [
            { type: 'adjustment', sku: 'A', delta: 2, reason: 'receipt' },
            { type: 'adjustment', sku: 'B', delta: -1, reason: 'damage' },
            { type: 'count', sku: 'C', onHand: 9 },
            { type: 'adjustment', sku: 'A', delta: -3, reason: 'sale' },
          ],
        },
        idempotencyKey: 'batch-1',
      });
      expect(response.status, response.text).to.equal(200);
      expectSchema(api, 'StockBatchResult', response.json);
      const rows = response.json.rows as { index: number; outcome: string; problem?: { code: string } }[];
      expect(rows.map((row) => row.outcome)).to.deep.equal(['applied', 'failed', 'applied', 'applied']);
      expect(rows[1]?.problem?.code).to.equal('STOCK_NEGATIVE');
      expect(response.json).to.include({ applied: 3, failed: 1 });
      expect((await api.request('GET', '/v1/locations/S1/stock/A')).json).to.include({ onHand: 4 });
      expect((await api.request('GET', '/v1/locations/S1/stock/C')).json).to.include({ onHand: 9 });
      expectProblem(api, await api.request('GET', '/v1/locations/S1/stock/B'), 404, 'STOCK_LEVEL_NOT_FOUND');
    });

    it('all_or_nothing: a failing row applies none (409 BATCH_REJECTED with each row), journal unchanged', async () => {
      await setOnHand(api, 'S1', 'A', 5);
      const before = (await api.records()).length;
      const response = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body: {
          rows: [
            { type: 'adjustment', sku: 'A', delta: 2, reason: 'receipt' },
            { type: 'count', sku: 'B', onHand: 3 },
            { type: 'adjustment', sku: 'A', delta: -10, reason: 'damage' },
          ],
        },
        idempotencyKey: 'batch-2',
      });
      expectProblem(api, response, 409, 'BATCH_REJECTED');
      const rows = response.json.rows as { outcome: string; problem?: { code: string } }[];
      expect(rows.map((row) => row.outcome)).to.deep.equal(['not_applied', 'not_applied', 'failed']);
      expect(rows[2]?.problem?.code).to.equal('STOCK_NEGATIVE');
      expect(await api.records()).to.have.length(before);
    });

    it('all_or_nothing: applies every row when all pass, once per Idempotency-Key', async () => {
      const body = {
        rows: [
          { type: 'count', sku: 'A', onHand: 10 },
          { type: 'adjustment', sku: 'A', delta: -4, reason: 'sale' },
          { type: 'count', sku: 'B', onHand: 1, safetyStock: 1 },
        ],
      };
      const first = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body,
        idempotencyKey: 'batch-3',
      });
      expect(first.status, first.text).to.equal(200);
      expect(first.json).to.include({ policy: 'all_or_nothing', applied: 3, failed: 0 });
      const retry = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body,
        idempotencyKey: 'batch-3',
      });
      expect(retry.status).to.equal(200);
      expect(retry.json).to.deep.equal(first.json);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      expect((await api.request('GET', '/v1/locations/S1/stock/A')).json).to.include({
        onHand: 6,
        version: 2,
      });
    });

    it('all_or_nothing: a retry after success replays even though its rows would now fail the check', async () => {
      await setOnHand(api, 'S1', 'A', 5);
      const body = {
        rows: [
          { type: 'adjustment', sku: 'A', delta: -5, reason: 'sale' },
          { type: 'count', sku: 'B', onHand: 2, expectedVersion: 0 },
        ],
      };
      const first = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body,
        idempotencyKey: 'sold-out',
      });
      expect(first.status, first.text).to.equal(200);
      const recordsAfterFirst = (await api.records()).length;
      const retry = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body,
        idempotencyKey: 'sold-out',
      });
      expect(retry.status, retry.text).to.equal(200);
      expect(retry.json).to.deep.equal(first.json);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      expect(await api.records()).to.have.length(recordsAfterFirst);
      const fresh = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body,
        idempotencyKey: 'other-key',
      });
      expectProblem(api, fresh, 409, 'BATCH_REJECTED');
      expect(await api.records()).to.have.length(recordsAfterFirst);
    });

    it('all_or_nothing: a row that fails while applying rolls back the rows already applied', async () => {
      // A held reservation makes the count emit ReservationAtRisk too, so the level moves two versions
      // where the pre-check (which cannot see holds) predicts one: row 1's expectedVersion then fails
      // while applying, after row 0 was applied.
      await setOnHand(api, 'S1', 'A', 5);
      const held = await api.request('POST', '/v1/reservations', {
        body: { lines: [{ sku: 'A', quantity: 4, locationId: 'S1' }] },
        idempotencyKey: 'r-1',
      });
      expect(held.status, held.text).to.equal(201);
      const response = await api.request('POST', '/v1/locations/S1/stock:batch', {
        body: {
          rows: [
            { type: 'count', sku: 'A', onHand: 1 },
            { type: 'adjustment', sku: 'A', delta: 1, reason: 'correction', expectedVersion: 3 },
          ],
        },
        idempotencyKey: 'batch-4',
      });
      expectProblem(api, response, 409, 'BATCH_REJECTED');
      const rows = response.json.rows as { outcome: string; problem?: { code: string } }[];
      expect(rows.map((row) => row.outcome)).to.deep.equal(['rolled_back', 'failed']);
      expect(rows[1]?.problem?.code).to.equal('VERSION_CONFLICT');
      const level = await api.request('GET', '/v1/locations/S1/stock/A');
      expect(level.json).to.include({ onHand: 5, reserved: 4 });
      const records = await api.records();
      const corrections = records.filter((record) =>
        record.events.some(
          (event) => (event as { reference?: string }).reference === 'rollback of batch row 0',
        ),
      );
      expect(corrections).to.have.length(1);
      expect(corrections[0]?.events[0]).to.include({ type: 'StockAdjusted', delta: 4, reason: 'correction' });
    });

    it('refuses more than 500 rows, and an unknown location with 404', async () => {
      const rows = Array.from({ length: 501 }, (_, i) => ({ type: 'count', sku: `K${i}`, onHand: 1 }));
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/S1/stock:batch', { body: { rows }, idempotencyKey: 'big' }),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        api,
        await api.request('POST', '/v1/locations/ZZ/stock:batch', {
          body: { rows: [{ type: 'count', sku: 'A', onHand: 1 }] },
          idempotencyKey: 'zz',
        }),
        404,
        'LOCATION_NOT_FOUND',
      );
    });
  });
});
