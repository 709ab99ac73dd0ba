// Promise: an Idempotency-Key survives a crash (SIGKILL, no graceful stop) because it is stored in the
// journal record of the effect it guards; a retry after the restart gets the first answer and applies
// nothing. Retention is configurable (IDEMPOTENCY_RETENTION_SECONDS, 24 h by default) and honoured both
// ways: a key is still remembered just inside it and forgotten after it. The engine's clock is moved with
// FAULT_INJECTION=1 (api/fault-injection.ts) rather than waiting a day.
//
// Guards against: keys kept in memory only (a retry after a crash applies twice); a key and its effect
// made durable separately (a crash between them); retention ignored (keys kept forever, or dropped early).
import { expect } from 'chai';
import { sleep } from './harness/rng.js';
import { TestServer, seedStock } from './harness/server.js';

const HOUR = 3_600_000;

describe('reliability: idempotency across a crash, and its retention (real server)', function () {
  this.timeout(90_000);
  const server = new TestServer({ FAULT_INJECTION: '1', IDEMPOTENCY_RETENTION_SECONDS: '120' });
  before(() => server.start());
  after(() => server.close());

  const adjust = (key: string, delta: number) =>
    server.request('POST', '/v1/locations/W1/stock/IDEM/adjustments', {
      body: { delta, reason: 'receipt' },
      idempotencyKey: key,
    });
  const onHand = async () =>
    Number((await server.request('GET', '/v1/locations/W1/stock/IDEM', { as: 'reader' })).json['onHand']);
  const recordsWithKey = async (key: string) =>
    (await server.journal()).filter((record) => {
      const meta = record.meta?.['idempotency'] as { key?: string } | undefined;
      return meta?.key?.endsWith(`:${key}`) === true;
    });
  /** Moves the engine clock and lets its maintenance loop (every second) sweep old keys. */
  const jumpTo = async (offsetMs: number) => {
    await server.faults({ clockOffsetMs: offsetMs });
    await sleep(1_600);
  };

  it('replays the first answer after a SIGKILL, and honours a configured retention of 120 s', async () => {
    await seedStock(
      server,
      [{ sku: 'IDEM', locationId: 'W1', onHand: 10 }],
      [{ id: 'W1', type: 'warehouse' }],
    );
    const first = await adjust('idem-adjust', 3);
    expect(first.status, first.text).to.equal(200);
    const reserved = await server.request('POST', '/v1/reservations', {
      as: 'storefront',
      body: { lines: [{ sku: 'IDEM', quantity: 2, locationId: 'W1' }], ttlSeconds: 3600 },
      idempotencyKey: 'idem-reserve',
    });
    expect(reserved.status, reserved.text).to.equal(201);

    await server.crashAndRestart();
    const again = await adjust('idem-adjust', 3);
    expect(again.status).to.equal(200);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(again.json, 'the first answer, word for word').to.deep.equal(first.json);
    expect(await onHand()).to.equal(13);
    const reservedAgain = await server.request('POST', '/v1/reservations', {
      as: 'storefront',
      body: { lines: [{ sku: 'IDEM', quantity: 2, locationId: 'W1' }], ttlSeconds: 3600 },
      idempotencyKey: 'idem-reserve',
    });
    expect(reservedAgain.status).to.equal(201);
    expect(reservedAgain.json['id'], 'the same reservation').to.equal(reserved.json['id']);
    const reused = await adjust('idem-adjust', 4);
    expect(reused.status).to.equal(422);
    expect(reused.json['code']).to.equal('IDEMPOTENCY_KEY_REUSED');
    // The key lives in the record of its effect: one record, holding the adjustment.
    const records = await recordsWithKey('idem-adjust');
    expect(records).to.have.length(1);
    expect(records[0]?.events.map((event) => event.type)).to.deep.equal(['StockAdjusted']);

    // 100 s later (retention 120 s): still remembered.
    await jumpTo(100_000);
    const inside = await adjust('idem-adjust', 3);
    expect(inside.headers.get('idempotent-replayed'), 'inside the retention').to.equal('true');
    expect(await onHand()).to.equal(13);
    // 200 s later: forgotten, so the same request is a new one and applies.
    await jumpTo(200_000);
    const after = await adjust('idem-adjust', 3);
    expect(after.status).to.equal(200);
    expect(after.headers.get('idempotent-replayed'), 'past the retention').to.equal(null);
    expect(await onHand()).to.equal(16);
    expect(await recordsWithKey('idem-adjust')).to.have.length(2);
  });

  it('keeps keys for 24 hours by default, across a crash, and forgets them after', async () => {
    // Restarted with the default retention (the key of the first test is already forgotten).
    await server.crashAndRestart({ IDEMPOTENCY_RETENTION_SECONDS: '' });
    const first = await adjust('idem-day', 1);
    expect(first.status, first.text).to.equal(200);
    const before = await onHand();
    await server.crashAndRestart({ IDEMPOTENCY_RETENTION_SECONDS: '' });
    await jumpTo(23 * HOUR + 50 * 60_000);
    const inside = await adjust('idem-day', 1);
    expect(inside.headers.get('idempotent-replayed'), '23 h 50 min later').to.equal('true');
    expect(await onHand()).to.equal(before);
    await jumpTo(24 * HOUR + 10 * 60_000);
    const after = await adjust('idem-day', 1);
    expect(after.headers.get('idempotent-replayed'), '24 h 10 min later').to.equal(null);
    expect(await onHand()).to.equal(before + 1);
  });
});
