// The request schemas as ajv compiles them: what each accepts and refuses, defaults filled in,
// and query values coerced from strings.
import { expect } from 'chai';
import { buildSchemas } from '../../../api/schemas.js';
import { SchemaRegistry } from '../../../api/validation.js';
import { ApiError } from '../../../api/problem.js';

const registry = new SchemaRegistry(buildSchemas({ defaultTtlSeconds: 900, maxTtlSeconds: 3600 }));

const refusal = (run: () => unknown): { path: string; message: string }[] => {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ApiError);
    expect((error as ApiError).code).to.equal('VALIDATION_FAILED');
    return (error as ApiError).details.errors as { path: string; message: string }[];
  }
  throw new Error('expected a refusal');
};

describe('api schemas', () => {
  it('fills reservation defaults from the configuration', () => {
    const body = registry.parse<Record<string, unknown>>('ReservationBody', 'body', {
      lines: [{ sku: 'A', quantity: 1 }],
    });
    expect(body).to.deep.include({ ttlSeconds: 900, allowPartial: false });
  });

  it('refuses unknown fields at every depth, wrong types and out-of-range values', () => {
    expect(
      refusal(() =>
        registry.parse('ReservationBody', 'body', { lines: [{ sku: 'A', quantity: 1, colour: 'red' }] }),
      ),
    ).to.deep.include({
      in: 'body',
      path: '/lines/0',
      message: 'unknown field "colour"',
    });
    expect(
      refusal(() => registry.parse('ReservationBody', 'body', { lines: [{ sku: 'A', quantity: '1' }] }))[0]
        ?.path,
    ).to.equal('/lines/0/quantity');
    refusal(() =>
      registry.parse('ReservationBody', 'body', { lines: [{ sku: 'A', quantity: 1 }], ttlSeconds: 3601 }),
    );
    refusal(() =>
      registry.parse('ReservationBody', 'body', {
        lines: Array.from({ length: 101 }, () => ({ sku: 'A', quantity: 1 })),
      }),
    );
    refusal(() => registry.parse('AdjustmentBody', 'body', { delta: 0, reason: 'receipt' }));
    refusal(() => registry.parse('AdjustmentBody', 'body', { delta: 1.5, reason: 'receipt' }));
    refusal(() => registry.parse('AdjustmentBody', 'body', { delta: 1, reason: 'theft' }));
    refusal(() => registry.parse('CountBody', 'body', { onHand: -1 }));
    refusal(() => registry.parse('CountBody', 'body', { onHand: 1_000_000_001 }));
    refusal(() => registry.parse('LocationBody', 'body', { name: '', type: 'store' }));
  });

  it('checks ids against the id pattern', () => {
    registry.parse('StockParams', 'path', { locationId: 'S-1.a_b', sku: 'A'.repeat(64) });
    for (const bad of ['', '-a', 'A'.repeat(65), 'a/b', 'a b', 'é']) {
      refusal(() => registry.parse('StockParams', 'path', { locationId: bad, sku: 'A' }));
    }
  });

  it('store events: per-type quantity rules', () => {
    const event = (type: string, quantity: number) => ({
      events: [{ seq: 1, type, sku: 'A', quantity, occurredAt: '2026-01-01T00:00:00Z' }],
    });
    registry.parse('StoreEventsBody', 'body', event('adjustment', -3));
    registry.parse('StoreEventsBody', 'body', event('count', 0));
    registry.parse('StoreEventsBody', 'body', event('sale', 1));
    refusal(() => registry.parse('StoreEventsBody', 'body', event('adjustment', 0)));
    refusal(() => registry.parse('StoreEventsBody', 'body', event('count', -1)));
    refusal(() => registry.parse('StoreEventsBody', 'body', event('sale', 0)));
    refusal(() => registry.parse('StoreEventsBody', 'body', event('return', -1)));
    refusal(() =>
      registry.parse('StoreEventsBody', 'body', {
        events: [{ ...event('sale', 1).events[0], occurredAt: '2026-01-01' }],
      }),
    );
  });

  it('stock batch rows are a count or an adjustment, 1 to 500 of them, all_or_nothing by default', () => {
    const body = registry.parse<{ policy: string }>('StockBatchBody', 'body', {
      rows: [
        { type: 'count', sku: 'A', onHand: 1 },
        { type: 'adjustment', sku: 'B', delta: -1, reason: 'damage' },
      ],
    });
    expect(body.policy).to.equal('all_or_nothing');
    refusal(() =>
      registry.parse('StockBatchBody', 'body', { rows: [{ type: 'count', sku: 'A', delta: 1 }] }),
    );
    refusal(() => registry.parse('StockBatchBody', 'body', { rows: [] }));
  });

  it('coerces query values from strings, applies defaults, refuses repeated or unknown parameters', () => {
    expect(registry.parse('PageQuery', 'query', { limit: '25', after: '12.0' })).to.deep.equal({
      limit: 25,
      after: '12.0',
    });
    expect(registry.parse('PageQuery', 'query', {})).to.deep.equal({ limit: 100 });
    refusal(() => registry.parse('PageQuery', 'query', { limit: ['1', '2'] }));
    refusal(() => registry.parse('PageQuery', 'query', { limit: '10x' }));
    refusal(() => registry.parse('PageQuery', 'query', { page: '2' }));
    refusal(() => registry.parse('LevelQuery', 'query', { at: 'tomorrow' }));
    registry.parse('StockBatchReadQuery', 'query', {
      skus: Array.from({ length: 100 }, (_, i) => `K${i}`).join(','),
    });
    refusal(() =>
      registry.parse('StockBatchReadQuery', 'query', {
        skus: Array.from({ length: 101 }, (_, i) => `K${i}`).join(','),
      }),
    );
  });

  it('does not coerce bodies: a numeric string is not a number', () => {
    refusal(() => registry.parse('ExtendBody', 'body', { ttlSeconds: '60' }));
    expect(registry.parse('ExtendBody', 'body', { ttlSeconds: 60 })).to.deep.equal({ ttlSeconds: 60 });
  });
});
