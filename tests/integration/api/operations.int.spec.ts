// Operations and documentation against the real app: the OpenAPI document validates as OpenAPI 3.1
// (with @seriousme/openapi-schema-validator) and lists every route Express serves; health,
// readiness and metrics report the engine; the docs are served from local files.
import { Validator } from '@seriousme/openapi-schema-validator';
import { expect } from 'chai';
import type { ApiHarness } from '../../support/api-harness.js';
import { expectSchema, registerLocations, setOnHand, startApi } from '../../support/api-harness.js';
import { connectSse } from '../../support/api-sse.js';

interface Layer {
  readonly route?: { readonly path: string; readonly methods: Record<string, boolean> };
}

/** `/v1/locations/:locationId/stock\:batch` -> `/v1/locations/{locationId}/stock:batch` */
const templateOf = (expressPath: string) =>
  expressPath
    .split('\\:')
    .map((part) => part.replace(/:([A-Za-z][A-Za-z0-9]*)/g, '{$1}'))
    .join(':');

describe('api: operations and OpenAPI', function () {
  this.timeout(30_000);
  let api: ApiHarness;
  before(async () => {
    api = await startApi({ env: { SSE_HEARTBEAT_MS: '1000' } });
    await registerLocations(api);
  });
  after(() => api.cleanup());

  describe('/openapi.json', () => {
    it('is a valid OpenAPI 3.1 document', async () => {
      const response = await api.request('GET', '/openapi.json', { as: null });
      expect(response.status).to.equal(200);
      const validator = new Validator();
      const result = await validator.validate(response.json);
      expect(result.errors, JSON.stringify(result.errors, null, 2)).to.equal(undefined);
      expect(result.valid).to.equal(true);
      expect(validator.version).to.equal('3.1');
    });

    it('documents every route Express serves, with the same methods, and nothing else', async () => {
      const document = (await api.request('GET', '/openapi.json', { as: null })).json as {
        paths: Record<string, Record<string, unknown>>;
      };
      const stack = (api.app as unknown as { router: { stack: Layer[] } }).router.stack;
      const served = stack
        .filter((layer) => layer.route)
        .flatMap((layer) =>
          Object.keys(layer.route?.methods ?? {}).map(
            (method) => `${method.toUpperCase()} ${templateOf(layer.route?.path ?? '')}`,
          ),
        )
        .sort();
      const documented = Object.entries(document.paths)
        .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
        .sort();
      expect(served.length).to.be.greaterThan(20);
      expect(documented).to.deep.equal(served);
    });

    it('publishes the same schemas ajv validates with, and names the roles and idempotency of each operation', async () => {
      const document = (await api.request('GET', '/openapi.json', { as: null })).json as {
        components: { schemas: Record<string, unknown> };
        paths: Record<
          string,
          Record<
            string,
            { parameters: { name: string; in: string; required: boolean }[]; 'x-roles': string[] }
          >
        >;
      };
      expect(document.components.schemas.ReservationBody).to.deep.equal(
        api.app.stockline.registry.schemas.ReservationBody,
      );
      expect(document.components.schemas.StockLevel).to.deep.equal(
        api.app.stockline.registry.schemas.StockLevel,
      );
      const reserve = document.paths['/v1/reservations']?.post;
      const key = reserve?.parameters.find((parameter) => parameter.name === 'Idempotency-Key');
      expect(key).to.include({ in: 'header', required: true });
      const countKey = document.paths['/v1/locations/{locationId}/stock/{sku}']?.put?.parameters.find(
        (parameter) => parameter.name === 'Idempotency-Key',
      );
      expect(countKey).to.include({ required: false });
      expect(reserve?.['x-roles']).to.deep.equal(['admin', 'storefront']);
      expect(
        document.paths['/v1/locations/{locationId}/stock/{sku}/adjustments']?.post?.['x-roles'],
      ).to.deep.equal(['admin', 'store (only its own locationId)']);
    });
  });

  describe('/healthz, /readyz, /metrics, /docs', () => {
    it('/healthz answers ok; /readyz reports engine, journal and breaker', async () => {
      const health = await api.request('GET', '/healthz', { as: null });
      expect(health.status).to.equal(200);
      expect(health.json).to.deep.equal({ status: 'ok' });
      const ready = await api.request('GET', '/readyz', { as: null });
      expect(ready.status).to.equal(200);
      expectSchema(api, 'Readiness', ready.json);
      expect(ready.json).to.deep.equal({
        ready: true,
        engine: true,
        journal: 'open',
        breaker: 'closed',
        draining: false,
      });
    });

    it('/metrics exposes requests, commands, reservations, store lag, journal, actors, mailboxes, SSE, breaker, propagation', async () => {
      await setOnHand(api, 'S1', 'TEE', 5);
      const stream = await connectSse(`${api.baseUrl}/v1/stream`, {
        authorization: 'Bearer reader-key-0123456789abcdef',
      });
      await api.request('POST', '/v1/locations/S1/stock/TEE/adjustments', {
        body: { delta: 1, reason: 'receipt' },
        idempotencyKey: 'm-1',
      });
      await api.request('POST', '/v1/reservations', {
        as: 'storefront',
        body: { lines: [{ sku: 'TEE', quantity: 100, locationId: 'S1' }] },
        idempotencyKey: 'm-2',
      });
      await api.request('POST', '/v1/stores/S1/events', {
        as: 'storeS1',
        body: {
          events: [
            {
              seq: 1,
              type: 'sale',
              sku: 'TEE',
              quantity: 1,
              occurredAt: new Date(Date.now() - 2000).toISOString(),
            },
          ],
        },
        idempotencyKey: 'm-3',
      });
      await stream.waitFor((s) => s.messages.length >= 2);
      const response = await api.request('GET', '/metrics', { as: null });
      stream.close();
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/plain/);
      const text = response.text;
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
      expect(
        value(
          /^stockline_http_request_duration_seconds_count\{method="PUT",route="\/v1\/locations\/\{locationId\}\/stock\/\{sku\}",status="200"\} (\d+)$/m,
        ),
      ).to.be.at.least(1);
      expect(value(/^stockline_stock_commands_total\{command="adjust",outcome="ok"\} (\d+)$/m)).to.equal(1);
      expect(
        value(/^stockline_reservations_total\{operation="reserve",outcome="STOCK_INSUFFICIENT"\} (\d+)$/m),
      ).to.equal(1);
      expect(value(/^stockline_store_events_total\{outcome="applied"\} (\d+)$/m)).to.equal(1);
      expect(value(/^stockline_store_event_lag_seconds_count (\d+)$/m)).to.equal(1);
      expect(value(/^stockline_store_event_lag_seconds_sum ([\d.]+)$/m)).to.be.at.least(2);
      expect(value(/^stockline_propagation_seconds_count\{origin="store"\} (\d+)$/m)).to.equal(1);
      expect(value(/^stockline_propagation_seconds_count\{origin="engine"\} (\d+)$/m)).to.be.at.least(1);
      expect(value(/^stockline_journal_appends (\d+)$/m)).to.be.at.least(5);
      expect(value(/^stockline_journal_flushes (\d+)$/m)).to.be.at.least(1);
      expect(text).to.match(/^stockline_journal_last_flush_ms [\d.e-]+$/m);
      expect(text).to.match(/^stockline_journal_last_batch_size \d+$/m);
      expect(value(/^stockline_engine_active_actors (\d+)$/m)).to.be.at.least(1);
      expect(text).to.match(/^stockline_engine_mailbox_depth \d+$/m);
      expect(value(/^stockline_breaker_state (\d+)$/m)).to.equal(0);
      expect(value(/^stockline_sse_clients (\d+)$/m)).to.equal(1);
      expect(text).to.match(/^stockline_process_cpu_user_seconds_total /m);
    });

    it('/docs serves Swagger UI from local files pointed at /openapi.json, without any CDN', async () => {
      const page = await api.request('GET', '/docs', { as: null });
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
      expect(sources.length).to.be.at.least(4);
      for (const source of sources) {
        expect(source.startsWith('/'), source).to.equal(true);
        const asset = await api.request('GET', source, { as: null });
        expect(asset.status, source).to.equal(200);
      }
      const init = await api.request('GET', '/docs/init.js', { as: null });
      expect(init.text).to.include("url: '/openapi.json'");
    });

    it('draining: readyz answers 503 and new streams are refused', async () => {
      const other = await startApi();
      try {
        other.app.stockline.drain();
        const ready = await other.request('GET', '/readyz', { as: null });
        expect(ready.status).to.equal(503);
        expect(ready.json).to.include({ ready: false, draining: true });
        const stream = await connectSse(`${other.baseUrl}/v1/stream`, {
          authorization: 'Bearer reader-key-0123456789abcdef',
        });
        expect(stream.status).to.equal(503);
      } finally {
        await other.cleanup();
      }
    });
  });
});
