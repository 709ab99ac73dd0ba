// Reservations on the real engine and journal: the lifecycle, expiry from an injected clock,
// multi-line carts all-or-nothing, sourcing, and sagas interrupted by a crash.
import { expect } from 'chai';
import { ManualClock } from '../../../engine/clock.js';
import { FileJournal } from '../../../storage/file-journal.js';
import type { Harness } from '../../support/engine-harness.js';
import { codeOf, journalDir, startEngine } from '../../support/engine-harness.js';

describe('engine: reservations', () => {
  let harness: Harness;
  let clock: ManualClock;
  let ids: number;
  beforeEach(async () => {
    clock = new ManualClock('2026-03-01T10:00:00Z');
    ids = 0;
    harness = await startEngine({ clock, newId: () => `r${++ids}` });
    const { engine } = harness;
    await engine.putLocation('S1', { name: 'Store 1', type: 'store' });
    await engine.putLocation('S2', { name: 'Store 2', type: 'store' });
    await engine.putLocation('W1', { name: 'Warehouse', type: 'warehouse' });
    await engine.execute('A', 'S1', { type: 'receive', quantity: 5 });
    await engine.execute('A', 'W1', { type: 'receive', quantity: 10 });
    await engine.execute('B', 'S2', { type: 'receive', quantity: 2 });
  });
  afterEach(() => harness.cleanup());

  it('holds, confirms and commits a cart, moving reserved to sold', async () => {
    const { engine } = harness;
    const { reservation } = await engine.reserve({
      lines: [
        { sku: 'A', quantity: 2, locationId: 'S1' },
        { sku: 'B', quantity: 1, locationId: 'S2' },
      ],
      ttlSeconds: 60,
    });
    expect(reservation).to.include({ id: 'r1', status: 'held', expiresAt: '2026-03-01T10:01:00.000Z' });
    expect(engine.level('A', 'S1')).to.include({ onHand: 5, reserved: 2, available: 3 });
    const confirmed = await engine.confirm('r1');
    expect(confirmed.reservation.status).to.equal('confirmed');
    expect(engine.level('A', 'S1')).to.include({ onHand: 3, reserved: 0, available: 3 });
    expect(engine.level('B', 'S2')).to.include({ onHand: 1, reserved: 0 });
    expect(await codeOf(engine.cancel('r1'))).to.equal('RESERVATION_STATE_CONFLICT');
  });

  it('sums lines of the same SKU and location before checking', async () => {
    const { engine } = harness;
    const code = await codeOf(
      engine.reserve({
        lines: [
          { sku: 'B', quantity: 1, locationId: 'S2' },
          { sku: 'B', quantity: 2, locationId: 'S2' },
        ],
        ttlSeconds: 60,
      }),
    );
    expect(code).to.equal('STOCK_INSUFFICIENT');
    expect(engine.level('B', 'S2')?.reserved).to.equal(0);
  });

  it('is all-or-nothing: a short line releases the lines already held and names the shortfall', async () => {
    const { engine } = harness;
    try {
      await engine.reserve({
        lines: [
          { sku: 'A', quantity: 2, locationId: 'S1' },
          { sku: 'B', quantity: 5, locationId: 'S2' },
        ],
        ttlSeconds: 60,
      });
      expect.fail('should have been refused');
    } catch (error) {
      const details = error as { code: string; details: { lines: unknown[] } };
      expect(details.code).to.equal('STOCK_INSUFFICIENT');
      expect(details.details.lines).to.deep.equal([
        { sku: 'B', locationId: 'S2', requested: 5, available: 2 },
      ]);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.level('A', 'S1')).to.include({ reserved: 0, available: 5 });
  });

  it('fills partially when asked, saying what was requested', async () => {
    const { reservation } = await harness.engine.reserve({
      lines: [{ sku: 'B', quantity: 5, locationId: 'S2' }],
      ttlSeconds: 60,
      allowPartial: true,
    });
    expect(reservation.lines).to.deep.equal([
      { sku: 'B', locationId: 'S2', quantity: 2, requested: 5, pinned: true },
    ]);
  });

  it('sources a line without a location from the location with most available', async () => {
    const { reservation } = await harness.engine.reserve({
      lines: [{ sku: 'A', quantity: 7 }],
      ttlSeconds: 60,
    });
    expect(reservation.lines).to.deep.equal([{ sku: 'A', locationId: 'W1', quantity: 7 }]);
    const second = await harness.engine.reserve({ lines: [{ sku: 'A', quantity: 4 }], ttlSeconds: 60 });
    expect(second.reservation.lines[0]?.locationId).to.equal('S1');
    expect(
      await codeOf(harness.engine.reserve({ lines: [{ sku: 'A', quantity: 4 }], ttlSeconds: 60 })),
    ).to.equal('STOCK_INSUFFICIENT');
  });

  it('expires a hold at its deadline and not before, releasing its stock; confirm after expiry is refused', async () => {
    const { engine } = harness;
    await engine.reserve({ lines: [{ sku: 'A', quantity: 5, locationId: 'S1' }], ttlSeconds: 60 });
    clock.advance(59_000);
    expect(await engine.expireDue()).to.equal(0);
    clock.advance(1_000);
    expect(await codeOf(engine.confirm('r1'))).to.equal('RESERVATION_EXPIRED');
    expect(await engine.expireDue()).to.equal(1);
    expect(engine.reservation('r1')?.status).to.equal('expired');
    expect(engine.level('A', 'S1')).to.include({ reserved: 0, available: 5 });
    expect(await codeOf(engine.confirm('r1'))).to.equal('RESERVATION_EXPIRED');
  });

  it('gives payment-pending its own longer TTL and lets a hold be extended', async () => {
    const { engine } = harness;
    await engine.reserve({ lines: [{ sku: 'A', quantity: 1, locationId: 'S1' }], ttlSeconds: 60 });
    const pending = await engine.markPaymentPending('r1');
    expect(pending.reservation).to.include({
      status: 'payment_pending',
      expiresAt: '2026-03-01T11:00:00.000Z',
    });
    const extended = await engine.extend('r1', 7200);
    expect(extended.reservation.expiresAt).to.equal('2026-03-01T12:00:00.000Z');
    clock.advance(3_600_000);
    expect(await engine.expireDue()).to.equal(0);
    expect((await engine.confirm('r1')).reservation.status).to.equal('confirmed');
  });

  it('releases holds that expired while the engine was down, at recovery', async () => {
    await harness.engine.reserve({ lines: [{ sku: 'A', quantity: 3, locationId: 'S1' }], ttlSeconds: 60 });
    await harness.engine.stop();
    clock.advance(120_000);
    const engine = await harness.crashRestart();
    expect(engine.reservation('r1')?.status).to.equal('expired');
    expect(engine.level('A', 'S1')).to.include({ reserved: 0, available: 5 });
    expect(engine.metrics().recovery?.expired).to.equal(1);
  });

  it('compensates a cart whose saga a crash interrupted before it was placed', async () => {
    // Append what a crashed saga leaves: a hold for a reservation that was never placed.
    await harness.engine.stop();
    const journal = new FileJournal({ dir: journalDir(harness.dir) });
    await journal.open();
    const level = harness.engine.level('A', 'S1');
    await journal.append({
      stream: 'stock/A/S1',
      version: (level?.version ?? 0) + 1,
      events: [
        {
          type: 'StockReserved',
          reservationId: 'ghost',
          quantity: 4,
          expiresAt: '2026-03-01T11:00:00.000Z',
          at: '2026-03-01T10:00:00.000Z',
        } as { type: string },
      ],
      meta: { before: { onHand: 5, reserved: 0, safetyStock: 0 } },
    });
    await journal.close();
    const engine = await harness.crashRestart();
    expect(engine.level('A', 'S1')).to.include({ reserved: 0, available: 5 });
    expect(engine.metrics().recovery?.compensated).to.equal(1);
    expect(engine.reservation('ghost')).to.equal(undefined);
    // The cart was given up with a tombstone at version 1, which fences out a late ReservationPlaced.
    await engine.stop();
    const reread = new FileJournal({ dir: journalDir(harness.dir) });
    await reread.open();
    const tombstones = [];
    for await (const record of reread.read(1))
      if (record.stream === 'reservation/ghost') tombstones.push(record);
    await reread.close();
    expect(tombstones.map((record) => [record.version, record.events[0]?.type])).to.deep.equal([
      [1, 'ReservationAbandoned'],
    ]);
    await harness.crashRestart();
  });

  it('completes a confirmation whose stock commits a crash interrupted', async () => {
    await harness.engine.reserve({ lines: [{ sku: 'A', quantity: 2, locationId: 'S1' }], ttlSeconds: 600 });
    await harness.engine.stop();
    const journal = new FileJournal({ dir: journalDir(harness.dir) });
    await journal.open();
    await journal.append({
      stream: 'reservation/r1',
      version: 2,
      events: [{ type: 'ReservationConfirmed', at: '2026-03-01T10:00:01.000Z' } as { type: string }],
    });
    await journal.close();
    const engine = await harness.crashRestart();
    expect(engine.reservation('r1')?.status).to.equal('confirmed');
    expect(engine.level('A', 'S1')).to.include({ onHand: 3, reserved: 0 });
    expect(engine.metrics().recovery?.completed).to.equal(1);
  });

  it('marks a pinned reservation at risk when a till sale takes its units', async () => {
    const { engine } = harness;
    await engine.reserve({ lines: [{ sku: 'B', quantity: 2, locationId: 'S2' }], ttlSeconds: 600 });
    const result = await engine.applyStoreEvents('S2', [
      { seq: 1, type: 'sale', sku: 'B', quantity: 1, occurredAt: '2026-03-01T10:00:00Z' },
    ]);
    expect(result).to.deep.include({ applied: 1, duplicates: 0, lastSeq: 1 });
    for (let i = 0; i < 20 && engine.reservation('r1')?.status !== 'at_risk'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(engine.reservation('r1')?.status).to.equal('at_risk');
    expect(engine.level('B', 'S2')).to.include({ onHand: 1, reserved: 2, available: 0 });
    expect(await codeOf(engine.confirm('r1'))).to.equal('RESERVATION_STATE_CONFLICT');
  });

  const settle = async (engine: Harness['engine'], id: string, status: string) => {
    for (let i = 0; i < 100 && engine.reservation(id)?.status !== status; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  it('re-sources a sourced line from another location when a till sale takes its units', async () => {
    const { engine } = harness;
    await engine.execute('C', 'S1', { type: 'receive', quantity: 4 });
    await engine.execute('C', 'S2', { type: 'receive', quantity: 3 });
    const { reservation } = await engine.reserve({ lines: [{ sku: 'C', quantity: 2 }], ttlSeconds: 600 });
    expect(reservation.lines[0]?.locationId).to.equal('S1');
    await engine.applyStoreEvents('S1', [
      { seq: 1, type: 'sale', sku: 'C', quantity: 3, occurredAt: '2026-03-01T10:00:00Z' },
    ]);
    for (let i = 0; i < 100 && engine.reservation('r1')?.lines[0]?.locationId !== 'S2'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (let i = 0; i < 100 && engine.level('C', 'S1')?.reserved !== 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(engine.reservation('r1')).to.deep.include({ status: 'held' });
    expect(engine.reservation('r1')?.lines).to.deep.equal([{ sku: 'C', locationId: 'S2', quantity: 2 }]);
    expect(engine.level('C', 'S1')).to.include({ onHand: 1, reserved: 0 });
    expect(engine.level('C', 'S2')).to.include({ onHand: 3, reserved: 2, available: 1 });
    expect((await engine.confirm('r1')).reservation.status).to.equal('confirmed');
  });

  it('leaves a pinned or unsourceable line at risk, needing attention', async () => {
    const { engine } = harness;
    await engine.reserve({ lines: [{ sku: 'B', quantity: 2, locationId: 'S2' }], ttlSeconds: 600 });
    await engine.execute('B', 'S1', { type: 'receive', quantity: 9 });
    await engine.applyStoreEvents('S2', [
      { seq: 1, type: 'sale', sku: 'B', quantity: 1, occurredAt: '2026-03-01T10:00:00Z' },
    ]);
    await settle(engine, 'r1', 'at_risk');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(engine.reservation('r1')?.status).to.equal('at_risk');
    expect(engine.reservation('r1')?.lines[0]?.locationId).to.equal('S2');
    expect(engine.level('B', 'S2')).to.include({ onHand: 1, reserved: 2, available: 0 });
    expect(engine.level('B', 'S1')?.reserved).to.equal(0);
    expect(await codeOf(engine.confirm('r1'))).to.equal('RESERVATION_STATE_CONFLICT');
    expect((await engine.cancel('r1')).reservation.status).to.equal('cancelled');
    expect(engine.level('B', 'S2')).to.include({ reserved: 0 });
  });

  it('withholds an offline buffer at a store whose agent went silent, until it is heard again', async () => {
    const { engine } = harness;
    await engine.applyStoreEvents('S1', [
      { seq: 1, type: 'sale', sku: 'A', quantity: 1, occurredAt: '2026-03-01T10:00:00Z' },
    ]);
    expect(engine.level('A', 'S1')).to.include({ onHand: 4, available: 4 });
    expect(engine.level('A', 'S1')?.staleSince).to.equal(undefined);
    clock.advance(121_000);
    expect(engine.level('A', 'S1')).to.include({ available: 2, staleSince: '2026-03-01T10:00:00.000Z' });
    expect(engine.level('A', 'W1')?.staleSince, 'warehouses have no agent to go silent').to.equal(undefined);
    expect(
      await codeOf(engine.reserve({ lines: [{ sku: 'A', quantity: 3, locationId: 'S1' }], ttlSeconds: 60 })),
    ).to.equal('STOCK_INSUFFICIENT');
    engine.heartbeat('S1');
    expect(engine.level('A', 'S1')).to.include({ available: 4 });
    expect(
      (await engine.reserve({ lines: [{ sku: 'A', quantity: 3, locationId: 'S1' }], ttlSeconds: 60 }))
        .reservation.status,
    ).to.equal('held');
  });
});
