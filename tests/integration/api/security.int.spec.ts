// Security over HTTP: every route tried with every role (and with no key), store keys on their own
// and on another location, per-key rate limits, CORS, helmet headers, and logs that never carry a key.
import { expect } from 'chai';
import type { ApiHarness, ApiResponse, KeyName } from '../../support/api-harness.js';
import { expectProblem, keys, registerLocations, setOnHand, startApi } from '../../support/api-harness.js';
import { connectSse } from '../../support/api-sse.js';

type Who = KeyName | 'anonymous';
/** allow: 2xx expected; deny: 403; own: a store key may use it on its own location only. */
type Rule = 'allow' | 'deny' | 'own';

const everyone = { admin: 'allow', storeS1: 'allow', storefront: 'allow', reader: 'allow' } as const;
const adminOnly = { admin: 'allow', storeS1: 'deny', storefront: 'deny', reader: 'deny' } as const;
const storeScoped = { admin: 'allow', storeS1: 'own', storefront: 'deny', reader: 'deny' } as const;
const reservations = { admin: 'allow', storeS1: 'deny', storefront: 'allow', reader: 'deny' } as const;
const publicRoute = {
  admin: 'allow',
  storeS1: 'allow',
  storefront: 'allow',
  reader: 'allow',
  anonymous: 'allow',
} as const;

/** The expected access of every operation: written out here, independently of the routes' own declarations. */
const matrix: Record<string, Partial<Record<Who, Rule>>> = {
  putLocation: adminOnly,
  getLocation: everyone,
  listLocations: everyone,
  getStorefrontStock: everyone,
  getStockBatch: everyone,
  getStockLevel: everyone,
  putStockCount: storeScoped,
  postStockAdjustment: storeScoped,
  getStockHistory: everyone,
  postStockBatch: storeScoped,
  createReservation: reservations,
  getReservation: everyone,
  confirmReservation: reservations,
  cancelReservation: reservations,
  markReservationPaymentPending: reservations,
  extendReservation: reservations,
  postStoreEvents: storeScoped,
  postStoreHeartbeat: storeScoped,
  getStore: everyone,
  getEvents: everyone,
  getStream: everyone,
  getHealth: publicRoute,
  getReadiness: publicRoute,
  getMetrics: publicRoute,
  getOpenApi: publicRoute,
  getDocs: publicRoute,
  getDocsScript: publicRoute,
};

interface Attempt {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly idempotent?: boolean;
}

describe('api: security', function () {
  this.timeout(60_000);

  describe('roles on every route', () => {
    let api: ApiHarness;
    let n = 0;
    before(async () => {
      api = await startApi();
      await registerLocations(api);
      for (const location of ['S1', 'S2']) await setOnHand(api, location, 'TEE', 1000);
    });
    after(() => api.cleanup());

    const newReservation = async (): Promise<string> => {
      const response = await api.request('POST', '/v1/reservations', {
        body: { lines: [{ sku: 'TEE', quantity: 1, locationId: 'S1' }] },
        idempotencyKey: `setup-${++n}`,
      });
      expect(response.status, response.text).to.equal(201);
      return String(response.json.id);
    };

    /** A well-formed request for the operation, at `location` for location-scoped ones. */
    const attemptFor = async (operationId: string, location: string): Promise<Attempt> => {
      switch (operationId) {
        case 'putLocation':
          return { method: 'PUT', path: `/v1/locations/N${++n}`, body: { name: 'New', type: 'online' } };
        case 'getLocation':
          return { method: 'GET', path: '/v1/locations/S1' };
        case 'listLocations':
          return { method: 'GET', path: '/v1/locations' };
        case 'getStorefrontStock':
          return { method: 'GET', path: '/v1/stock/TEE' };
        case 'getStockBatch':
          return { method: 'GET', path: '/v1/stock?skus=TEE,CAP' };
        case 'getStockLevel':
          return { method: 'GET', path: '/v1/locations/S1/stock/TEE' };
        case 'putStockCount': {
          const etag =
            (await api.request('GET', `/v1/locations/${location}/stock/TEE`)).headers.get('etag') ?? '"0"';
          return {
            method: 'PUT',
            path: `/v1/locations/${location}/stock/TEE`,
            body: { onHand: 1000 },
            headers: { 'if-match': etag },
          };
        }
        case 'postStockAdjustment':
          return {
            method: 'POST',
            path: `/v1/locations/${location}/stock/TEE/adjustments`,
            body: { delta: 1, reason: 'receipt' },
            idempotent: true,
          };
        case 'getStockHistory':
          return { method: 'GET', path: '/v1/locations/S1/stock/TEE/history?limit=5' };
        case 'postStockBatch':
          return {
            method: 'POST',
            path: `/v1/locations/${location}/stock:batch`,
            body: { rows: [{ type: 'adjustment', sku: 'TEE', delta: 1, reason: 'receipt' }] },
            idempotent: true,
          };
        case 'createReservation':
          return {
            method: 'POST',
            path: '/v1/reservations',
            body: { lines: [{ sku: 'TEE', quantity: 1 }] },
            idempotent: true,
          };
        case 'getReservation':
          return { method: 'GET', path: `/v1/reservations/${await newReservation()}` };
        case 'confirmReservation':
          return {
            method: 'POST',
            path: `/v1/reservations/${await newReservation()}/confirm`,
            idempotent: true,
          };
        case 'cancelReservation':
          return {
            method: 'POST',
            path: `/v1/reservations/${await newReservation()}/cancel`,
            idempotent: true,
          };
        case 'markReservationPaymentPending':
          return {
            method: 'POST',
            path: `/v1/reservations/${await newReservation()}/payment-pending`,
            idempotent: true,
          };
        case 'extendReservation':
          return {
            method: 'POST',
            path: `/v1/reservations/${await newReservation()}/extend`,
            body: { ttlSeconds: 60 },
            idempotent: true,
          };
        case 'postStoreEvents':
          return {
            method: 'POST',
            path: `/v1/stores/${location}/events`,
            body: {
              events: [
                {
                  seq: api.engine.lastStoreSeq(location) + 1,
                  type: 'receipt',
                  sku: 'TEE',
                  quantity: 1,
                  occurredAt: new Date().toISOString(),
                },
              ],
            },
            idempotent: true,
          };
        case 'postStoreHeartbeat':
          return { method: 'POST', path: `/v1/stores/${location}/heartbeat` };
        case 'getStore':
          return { method: 'GET', path: '/v1/stores/S1' };
        case 'getEvents':
          return { method: 'GET', path: '/v1/events?limit=2' };
        case 'getStream':
          return { method: 'GET', path: '/v1/stream' };
        case 'getHealth':
          return { method: 'GET', path: '/healthz' };
        case 'getReadiness':
          return { method: 'GET', path: '/readyz' };
        case 'getMetrics':
          return { method: 'GET', path: '/metrics' };
        case 'getOpenApi':
          return { method: 'GET', path: '/openapi.json' };
        case 'getDocs':
          return { method: 'GET', path: '/docs' };
        case 'getDocsScript':
          return { method: 'GET', path: '/docs/init.js' };
        default:
          throw new Error(`no attempt for ${operationId}: add it to the security matrix`);
      }
    };

    const send = async (attempt: Attempt, who: Who): Promise<{ status: number; response?: ApiResponse }> => {
      if (attempt.path === '/v1/stream') {
        const stream = await connectSse(
          `${api.baseUrl}${attempt.path}`,
          who === 'anonymous' ? {} : { authorization: `Bearer ${keys[who]}` },
        );
        stream.close();
        return { status: stream.status };
      }
      const response = await api.request(attempt.method, attempt.path, {
        as: who === 'anonymous' ? null : who,
        ...(attempt.body === undefined ? {} : { body: attempt.body }),
        ...(attempt.headers ? { headers: attempt.headers } : {}),
        ...(attempt.idempotent ? { idempotencyKey: `sec-${++n}` } : {}),
      });
      return { status: response.status, response };
    };

    it('the matrix covers every route of the app', () => {
      const operations = api.app.stockline.routes.map((route) => route.operationId);
      expect(operations.filter((operationId) => !(operationId in matrix))).to.deep.equal([]);
      expect(operations.length).to.be.at.least(Object.keys(matrix).length - 1);
    });

    for (const [operationId, rules] of Object.entries(matrix)) {
      it(`${operationId}: each role allowed or refused as it should be`, async function () {
        // Routes that depend on an engine capability (the store heartbeat) are only mounted with it.
        if (!api.app.stockline.routes.some((route) => route.operationId === operationId)) this.skip();
        const isPublic = rules.anonymous === 'allow';
        for (const who of ['admin', 'storeS1', 'storefront', 'reader', 'anonymous'] as const) {
          const rule: Rule | undefined = who === 'anonymous' ? (isPublic ? 'allow' : undefined) : rules[who];
          const locations = rule === 'own' ? ['S1', 'S2'] : ['S1'];
          for (const location of locations) {
            const attempt = await attemptFor(operationId, location);
            const { status, response } = await send(attempt, who);
            const label = `${who} ${attempt.method} ${attempt.path}: ${response?.text.slice(0, 300) ?? status}`;
            if (rule === undefined) {
              expect(status, label).to.equal(401);
              if (response) {
                expectProblem(api, response, 401, 'UNAUTHENTICATED');
                expect(response.headers.get('www-authenticate')).to.match(/^Bearer/);
              }
            } else if (rule === 'deny' || (rule === 'own' && location !== 'S1')) {
              expect(status, label).to.equal(403);
              if (response) expectProblem(api, response, 403, 'FORBIDDEN');
            } else {
              expect(status, label).to.be.within(200, 299);
            }
          }
        }
      });
    }

    it('a wrong, malformed or hashed-only key is refused with 401', async () => {
      for (const authorization of [
        'Bearer not-a-configured-key-123',
        `Basic ${keys.admin}`,
        `Bearer ${keys.admin}x`,
        `Bearer ${api.config.apiKeys[0]?.digest.toString('hex') ?? ''}`,
        'Bearer',
      ]) {
        const response = await api.request('GET', '/v1/locations', { authorization });
        expectProblem(api, response, 401, 'UNAUTHENTICATED');
      }
    });

    it('no API key ever reaches the logs; each request has one access line with route, status, duration and role', async () => {
      const response = await api.request('GET', '/v1/locations/S1', {
        as: 'reader',
        headers: { 'x-request-id': 'trace-abc-123' },
      });
      expect(response.headers.get('x-request-id')).to.equal('trace-abc-123');
      const logged = JSON.stringify(api.logs);
      for (const key of Object.values(keys)) expect(logged).to.not.include(key);
      const lines = api.logs.filter((line) => line.requestId === 'trace-abc-123');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.include({
        message: 'request',
        method: 'GET',
        route: '/v1/locations/{locationId}',
        status: 200,
        role: 'reader',
      });
      expect(lines[0]?.durationMs).to.be.a('number');
      const generated = await api.request('GET', '/healthz', {
        headers: { 'x-request-id': 'bad id with spaces' },
      });
      expect(generated.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    });

    it('sets security headers (the API set on /v1, helmet on pages) and no CORS headers when no origin is configured', async () => {
      const response = await api.request('GET', '/v1/locations', {
        as: 'reader',
        headers: { origin: 'https://evil.example.com' },
      });
      expect(response.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(response.headers.get('x-frame-options')).to.equal('DENY');
      expect(response.headers.get('content-security-policy')).to.equal(
        "default-src 'none'; frame-ancestors 'none'",
      );
      const page = await api.request('GET', '/dashboard', { as: null });
      expect(page.headers.get('content-security-policy')).to.include("default-src 'self'");
      expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(response.headers.get('x-powered-by')).to.equal(null);
      expect(response.headers.get('access-control-allow-origin')).to.equal(null);
    });
  });

  describe('rate limits and CORS', () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi({ env: { RATE_LIMIT_PER_MINUTE: '3', CORS_ORIGINS: 'https://shop.example.com' } });
    });
    after(() => api.cleanup());

    it('limits each key on its own: the 4th request in a minute gets 429 with Retry-After', async () => {
      for (let i = 0; i < 3; i++)
        expect((await api.request('GET', '/v1/locations', { as: 'reader' })).status).to.equal(200);
      const limited = await api.request('GET', '/v1/locations', { as: 'reader' });
      expectProblem(api, limited, 429, 'RATE_LIMITED');
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).to.be.within(1, 60);
      expect((await api.request('GET', '/v1/locations', { as: 'storefront' })).status).to.equal(200);
      expect((await api.request('GET', '/healthz', { as: null })).status).to.equal(200);
    });

    it('allows CORS for the configured origin only', async () => {
      const allowed = await fetch(`${api.baseUrl}/v1/stock/TEE`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://shop.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,idempotency-key,content-type',
        },
      });
      expect(allowed.status).to.equal(204);
      expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://shop.example.com');
      expect(allowed.headers.get('access-control-allow-headers')).to.include('Idempotency-Key');
      const denied = await fetch(`${api.baseUrl}/v1/stock/TEE`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
      });
      expect(denied.headers.get('access-control-allow-origin')).to.equal(null);
    });
  });
});
