// Bad input and bad days over HTTP against the real engine and journal.
//
// Guards against: malformed requests answered with a 5xx or, worse, changing stock; bodies the
// parser chokes on; a request stuck behind a slow disk holding its client forever; writes that
// "succeed" while storage is failing; retries that apply twice, also across a restart.
import { expect } from 'chai';
import fc from 'fast-check';
import { FaultyFileOps } from '../../support/faulty-file-ops.js';
import type { ApiHarness } from '../../support/api-harness.js';
import { expectProblem, registerLocations, setOnHand, startApi } from '../../support/api-harness.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface Target {
  readonly method: string;
  readonly path: (ids: { sku: string; location: string; reservation: string; store: string }) => string;
  readonly body?: Record<string, unknown>;
  /** Dotted paths of numeric fields, id fields and required fields in the body. */
  readonly numbers: string[];
  readonly ids: string[];
  readonly required: string[];
  readonly headers?: Record<string, string>;
}

const targets: Target[] = [
  {
    method: 'PUT',
    path: (p) => `/v1/locations/${p.location}`,
    body: { name: 'Renamed', type: 'store' },
    numbers: [],
    ids: [],
    required: ['name', 'type'],
  },
  {
    method: 'PUT',
    path: (p) => `/v1/locations/${p.location}/stock/${p.sku}`,
    body: { onHand: 3, safetyStock: 1 },
    numbers: ['onHand', 'safetyStock'],
    ids: [],
    required: ['onHand'],
    headers: { 'if-match': '"1"' },
  },
  {
    method: 'POST',
    path: (p) => `/v1/locations/${p.location}/stock/${p.sku}/adjustments`,
    body: { delta: 2, reason: 'receipt', reference: 'x' },
    numbers: ['delta', 'expectedVersion'],
    ids: [],
    required: ['delta', 'reason'],
  },
  {
    method: 'POST',
    path: (p) => `/v1/locations/${p.location}/stock:batch`,
    body: { policy: 'per_row', rows: [{ type: 'adjustment', sku: 'TEE', delta: 1, reason: 'receipt' }] },
    numbers: ['rows.0.delta'],
    ids: ['rows.0.sku'],
    required: ['rows', 'rows.0.type', 'rows.0.delta'],
  },
  {
    method: 'POST',
    path: () => '/v1/reservations',
    body: { lines: [{ sku: 'TEE', quantity: 1, locationId: 'S1' }], ttlSeconds: 60 },
    numbers: ['lines.0.quantity', 'ttlSeconds'],
    ids: ['lines.0.sku', 'lines.0.locationId'],
    required: ['lines', 'lines.0.sku', 'lines.0.quantity'],
  },
  {
    method: 'POST',
    path: (p) => `/v1/reservations/${p.reservation}/extend`,
    body: { ttlSeconds: 60 },
    numbers: ['ttlSeconds'],
    ids: [],
    required: ['ttlSeconds'],
  },
  {
    method: 'POST',
    path: (p) => `/v1/reservations/${p.reservation}/confirm`,
    body: {},
    numbers: [],
    ids: [],
    required: [],
  },
  {
    method: 'POST',
    path: (p) => `/v1/stores/${p.store}/events`,
    body: { events: [{ seq: 1, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: '2026-01-01T10:00:00Z' }] },
    numbers: ['events.0.seq', 'events.0.quantity'],
    ids: ['events.0.sku'],
    required: ['events', 'events.0.seq', 'events.0.occurredAt'],
  },
];

type Json = unknown;
const clone = <T>(value: T): T => structuredClone(value);

function setAt(body: Record<string, unknown>, dotted: string, value: Json | typeof REMOVE): void {
  const parts = dotted.split('.');
  let node: Record<string, unknown> = body;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  const last = parts[parts.length - 1] ?? '';
  if (value === REMOVE) delete node[last];
  else node[last] = value;
}
const REMOVE = Symbol('remove');

const invalidId = fc.oneof(
  fc.string({ minLength: 65, maxLength: 80, unit: fc.constantFrom('a', 'b', '1') }),
  fc.string({ maxLength: 10 }).map((s) => `!${s}`),
  fc.constantFrom('', '-lead', '.dot', 'sp ace', 'slash/x', 'é', '%', '..', 'a\u0000b', 'a\nb'),
);
const badNumber = fc.oneof(
  fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
  fc.constantFrom(1e12, -1e12, Number.MAX_SAFE_INTEGER + 2),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const unknownKey = fc.string({ minLength: 1, maxLength: 12 }).map((key) => `zz${key}`);

type Mutation =
  | { kind: 'unknownField'; key: string; value: Json; nested: boolean }
  | { kind: 'notAnObject'; value: Json }
  | { kind: 'removeRequired'; index: number }
  | { kind: 'badNumber'; index: number; value: Json }
  | { kind: 'badIdInBody'; index: number; value: string }
  | { kind: 'badPathId'; which: 'sku' | 'location' | 'reservation' | 'store'; value: string }
  | { kind: 'notJson'; text: string }
  | { kind: 'wrongContentType'; type: string }
  | { kind: 'badIdempotencyKey'; value: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('unknownField' as const),
    key: unknownKey,
    value: fc.jsonValue({ maxDepth: 2 }),
    nested: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('notAnObject' as const),
    value: fc.oneof(
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
    ),
  }),
  fc.record({ kind: fc.constant('removeRequired' as const), index: fc.nat() }),
  fc.record({ kind: fc.constant('badNumber' as const), index: fc.nat(), value: badNumber }),
  fc.record({ kind: fc.constant('badIdInBody' as const), index: fc.nat(), value: invalidId }),
  fc.record({
    kind: fc.constant('badPathId' as const),
    which: fc.constantFrom('sku' as const, 'location' as const, 'reservation' as const, 'store' as const),
    value: invalidId,
  }),
  fc.record({
    kind: fc.constant('notJson' as const),
    text: fc.string({ maxLength: 40 }).map((s) => `{${s}`),
  }),
  fc.record({
    kind: fc.constant('wrongContentType' as const),
    type: fc.constantFrom(
      'text/plain',
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
    ),
  }),
  fc.record({
    kind: fc.constant('badIdempotencyKey' as const),
    value: fc.oneof(
      fc.string({ minLength: 256, maxLength: 300, unit: fc.constantFrom('k', 'e') }),
      fc.constantFrom('has space', 'tab\tkey', 'ünï'),
    ),
  }),
);

describe('api: robustness', function () {
  this.timeout(120_000);

  describe('malformed requests (fast-check)', () => {
    let api: ApiHarness;
    let reservation = '';
    before(async () => {
      api = await startApi();
      await registerLocations(api);
      await setOnHand(api, 'S1', 'TEE', 10);
      const held = await api.request('POST', '/v1/reservations', {
        as: 'storefront',
        body: { lines: [{ sku: 'TEE', quantity: 1, locationId: 'S1' }] },
        idempotencyKey: 'seed',
      });
      reservation = String(held.json.id);
    });
    after(() => api.cleanup());

    it('never answer 5xx, always answer a problem document, and never change state', async () => {
      const seqBefore = api.engine.lastSeq;
      const recordsBefore = (await api.records()).length;
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...targets), mutation, async (target, change) => {
          const ids = { sku: 'TEE', location: 'S1', reservation, store: 'S1' };
          const headers: Record<string, string> = { ...target.headers, 'content-type': 'application/json' };
          let idempotencyKey: string | undefined = `fc-${++n}`;
          let body: Json = clone(target.body ?? {});
          let raw: string | undefined;
          const object = body as Record<string, unknown>;
          switch (change.kind) {
            case 'unknownField': {
              const nestedPath = target.ids[0]?.split('.').slice(0, 2).join('.');
              if (change.nested && nestedPath) {
                const [list, index] = nestedPath.split('.');
                (((object[list ?? ''] as unknown[])[Number(index)] ?? {}) as Record<string, unknown>)[
                  change.key
                ] = change.value;
              } else object[change.key] = change.value;
              break;
            }
            case 'notAnObject':
              body = change.value;
              break;
            case 'removeRequired': {
              if (target.required.length === 0) {
                body = [];
                break;
              }
              setAt(object, target.required[change.index % target.required.length] ?? '', REMOVE);
              break;
            }
            case 'badNumber': {
              if (target.numbers.length === 0) {
                object.zzNumber = change.value;
                break;
              }
              setAt(object, target.numbers[change.index % target.numbers.length] ?? '', change.value);
              break;
            }
            case 'badIdInBody': {
              if (target.ids.length === 0) {
                object.zzId = change.value;
                break;
              }
              setAt(object, target.ids[change.index % target.ids.length] ?? '', change.value);
              break;
            }
            case 'badPathId': {
              const bad = encodeURIComponent(change.value).replace(/%25$/, '%');
              const before = target.path(ids);
              ids[change.which] = bad;
              // When the target's path has no such id, spoil every id it has; a path without ids gets an unknown field.
              if (target.path(ids) === before)
                Object.assign(ids, { sku: bad, location: bad, reservation: bad, store: bad });
              if (target.path(ids) === before) object.zzPath = change.value;
              break;
            }
            case 'notJson':
              raw = change.text;
              break;
            case 'wrongContentType':
              headers['content-type'] = change.type;
              break;
            case 'badIdempotencyKey':
              idempotencyKey = undefined;
              headers['idempotency-key'] = change.value;
              break;
          }
          const path = target.path(ids);
          const response = await fetch(`${api.baseUrl}${path}`, {
            method: target.method,
            headers: {
              authorization: `Bearer admin-key-0123456789abcdef`,
              ...headers,
              ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
            },
            body: raw ?? JSON.stringify(body),
          }).catch((error: unknown) => {
            // A header value fetch itself refuses to send (control characters) never reached the server.
            if (change.kind === 'badIdempotencyKey' || change.kind === 'badPathId') return undefined;
            throw error;
          });
          if (!response) return;
          const text = await response.text();
          const label = `${target.method} ${path} ${change.kind} -> ${response.status} ${text.slice(0, 300)}`;
          expect(response.status, label).to.be.within(400, 499);
          expect(response.headers.get('content-type'), label).to.match(/^application\/problem\+json/);
          const problem = JSON.parse(text) as { code: string; status: number };
          expect(problem.status, label).to.equal(response.status);
          expect(problem.code, label).to.be.a('string');
          expect(api.engine.lastSeq, label).to.equal(seqBefore);
        }),
        { numRuns: 400 },
      );
      expect(await api.records()).to.have.length(recordsBefore);
      expect(ID.test('TEE')).to.equal(true);
    });
  });

  describe('body parsing and media types', () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi({ env: { BODY_LIMIT_BYTES: '2048' } });
      await registerLocations(api);
    });
    after(() => api.cleanup());

    const post = (rawBody: string | Buffer, headers: Record<string, string>) =>
      api.request('POST', '/v1/reservations', { as: 'storefront', rawBody, headers, idempotencyKey: 'p' });

    it('invalid JSON: 400 MALFORMED_JSON', async () => {
      expectProblem(
        api,
        await post('{"lines": [', { 'content-type': 'application/json' }),
        400,
        'MALFORMED_JSON',
      );
      expectProblem(
        api,
        await post('"just a string"', { 'content-type': 'application/json' }),
        400,
        'MALFORMED_JSON',
      );
    });

    it('a body over the limit: 413 PAYLOAD_TOO_LARGE', async () => {
      const big = JSON.stringify({ lines: [{ sku: 'TEE', quantity: 1 }], reference: 'x'.repeat(4000) });
      const response = await post(big, { 'content-type': 'application/json' });
      expectProblem(api, response, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('a body that is not JSON, or in an unsupported charset or encoding: 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      expectProblem(
        api,
        await post('lines=1', { 'content-type': 'application/x-www-form-urlencoded' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expectProblem(api, await post('{}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectProblem(
        api,
        await post('{}', { 'content-type': 'application/json; charset=latin1' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expectProblem(
        api,
        await post('{}', { 'content-type': 'application/json', 'content-encoding': 'compress' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    });

    it('a missing body where one is required: 400; an omitted body where none is needed is fine', async () => {
      expectProblem(
        api,
        await api.request('POST', '/v1/reservations', { as: 'storefront', idempotencyKey: 'q' }),
        400,
        'VALIDATION_FAILED',
      );
      const none = await api.request('POST', '/v1/reservations/missing/cancel', {
        as: 'storefront',
        idempotencyKey: 'r',
      });
      expectProblem(api, none, 404, 'RESERVATION_NOT_FOUND');
    });

    it('unknown routes: 404; known routes with another method: 405 with Allow', async () => {
      expectProblem(api, await api.request('GET', '/v1/nothing'), 404, 'ROUTE_NOT_FOUND');
      const wrong = await api.request('DELETE', '/v1/reservations/abc');
      expectProblem(api, wrong, 405, 'METHOD_NOT_ALLOWED');
      expect(wrong.headers.get('allow')).to.equal('GET, HEAD');
    });
  });

  describe('slow and failing storage', () => {
    let api: ApiHarness;
    let ops: FaultyFileOps;
    let releaseAfter: { release(): void } | undefined;
    beforeEach(async () => {
      ops = new FaultyFileOps();
      api = await startApi({
        fileOps: ops,
        env: { REQUEST_TIMEOUT_MS: '300', MAX_IN_FLIGHT: '3' },
        engine: { breakerResetMs: 300 },
      });
      await registerLocations(api);
      await setOnHand(api, 'S1', 'TEE', 5);
    });
    afterEach(() => {
      ops.heal();
      releaseAfter?.release();
      releaseAfter = undefined;
      return api.cleanup();
    });

    const adjust = (idempotencyKey: string) =>
      api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { delta: 1, reason: 'receipt' },
        idempotencyKey,
      });

    it('a request stuck on a slow disk gets 503 REQUEST_TIMEOUT; its retry with the same key applies once', async () => {
      const hold = ops.holdNext('fdatasync');
      releaseAfter = hold;
      const timedOut = await adjust('slow-1');
      expectProblem(api, timedOut, 503, 'REQUEST_TIMEOUT');
      expect(timedOut.headers.get('retry-after')).to.equal('1');
      await hold.reached;
      const inFlight = await adjust('slow-1');
      expectProblem(api, inFlight, 409, 'IDEMPOTENCY_IN_FLIGHT');
      hold.release();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const retry = await adjust('slow-1');
      expect(retry.status, retry.text).to.equal(200);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({ onHand: 6 });
    });

    it('sheds requests beyond MAX_IN_FLIGHT with 503 SERVER_OVERLOADED', async () => {
      const hold = ops.holdNext('fdatasync');
      try {
        const stuck = [adjust('a'), adjust('b'), adjust('c')];
        await hold.reached;
        const inFlight = async () => (await api.app.stockline.metrics.inFlight.get()).values[0]?.value ?? 0;
        for (let i = 0; i < 100 && (await inFlight()) < 3; i++)
          await new Promise((resolve) => setTimeout(resolve, 10));
        const shed = await api.request('GET', '/v1/locations/S1/stock/TEE');
        expectProblem(api, shed, 503, 'SERVER_OVERLOADED');
        expect(shed.headers.get('retry-after')).to.equal('1');
        expect(shed.headers.get('x-content-type-options')).to.equal('nosniff');
        hold.release();
        await Promise.all(stuck);
        expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).status).to.equal(200);
      } finally {
        hold.release();
      }
    });

    it('when storage fails, writes get 503 STORAGE_UNAVAILABLE with Retry-After, reads keep answering, readyz shows the breaker', async () => {
      ops.failNext('fdatasync', 'EIO', Number.POSITIVE_INFINITY);
      for (let i = 0; i < 6; i++) {
        const failed = await adjust(`fail-${i}`);
        expectProblem(api, failed, 503, 'STORAGE_UNAVAILABLE');
        expect(Number(failed.headers.get('retry-after'))).to.be.at.least(1);
      }
      const read = await api.request('GET', '/v1/locations/S1/stock/TEE');
      expect(read.status).to.equal(200);
      expect(read.json).to.include({ onHand: 5 });
      const ready = await api.request('GET', '/readyz', { as: null });
      expect(ready.status).to.equal(503);
      expect(ready.json).to.include({ ready: false, breaker: 'open' });
      const metrics = await api.request('GET', '/metrics', { as: null });
      expect(metrics.text).to.match(/^stockline_breaker_state 2$/m);
      ops.heal();
      await new Promise((resolve) => setTimeout(resolve, 400));
      let recovered = 0;
      for (let i = 0; i < 10 && recovered === 0; i++) {
        const attempt = await adjust(`heal-${i}`);
        if (attempt.status === 200) recovered++;
        else await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(recovered).to.equal(1);
      const readyAgain = await api.request('GET', '/readyz', { as: null });
      expect(readyAgain.status, readyAgain.text).to.equal(200);
      expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({ onHand: 6 });
    });
  });

  describe('idempotency across a restart', () => {
    it('a retry after a restart on the same data directory replays the first answer and applies once', async () => {
      const api = await startApi();
      try {
        await registerLocations(api);
        await setOnHand(api, 'S1', 'TEE', 5);
        const body = { lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }] };
        const first = await api.request('POST', '/v1/reservations', {
          as: 'storefront',
          body,
          idempotencyKey: 'cart-r',
        });
        const adjusted = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 4, reason: 'receipt' },
          idempotencyKey: 'adj-r',
        });
        const events = await api.request('POST', '/v1/stores/S1/events', {
          as: 'storeS1',
          body: {
            events: [{ seq: 1, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: '2026-01-01T10:00:00Z' }],
          },
          idempotencyKey: 'till-r',
        });
        expect([first.status, adjusted.status, events.status]).to.deep.equal([201, 200, 200]);
        const recordsBefore = (await api.records()).length;
        await api.restart();
        const again = await api.request('POST', '/v1/reservations', {
          as: 'storefront',
          body,
          idempotencyKey: 'cart-r',
        });
        expect(again.status).to.equal(201);
        expect(again.json).to.deep.equal(first.json);
        expect(again.headers.get('location')).to.equal(first.headers.get('location'));
        const adjustedAgain = await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
          body: { delta: 4, reason: 'receipt' },
          idempotencyKey: 'adj-r',
        });
        expect(adjustedAgain.status).to.equal(200);
        expect(adjustedAgain.json).to.deep.equal(adjusted.json);
        const eventsAgain = await api.request('POST', '/v1/stores/S1/events', {
          as: 'storeS1',
          body: {
            events: [{ seq: 1, type: 'sale', sku: 'TEE', quantity: 1, occurredAt: '2026-01-01T10:00:00Z' }],
          },
          idempotencyKey: 'till-r',
        });
        expect(eventsAgain.json).to.deep.equal(events.json);
        expect(await api.records()).to.have.length(recordsBefore);
        expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({
          onHand: 8,
          reserved: 2,
        });
        const reused = await api.request('POST', '/v1/reservations', {
          as: 'storefront',
          body: { lines: [{ sku: 'TEE', quantity: 1, locationId: 'S1' }] },
          idempotencyKey: 'cart-r',
        });
        expectProblem(api, reused, 422, 'IDEMPOTENCY_KEY_REUSED');
      } finally {
        await api.cleanup();
      }
    });
  });
});
