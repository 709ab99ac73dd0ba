// Faults on the real engine and journal: a failed fsync while a hot SKU has commands pipelined
// behind it, a full mailbox, passivation and reactivation of idle actors.
// Guards against: acknowledging or exposing state whose fsync failed; an actor that keeps deciding
// on undurable state after a failure; unbounded queues; losing state when an actor is passivated.
import { expect } from 'chai';
import sinon from 'sinon';
import { ManualClock } from '../../../engine/clock.js';
import { FileJournal } from '../../../storage/file-journal.js';
import { FaultyFileOps } from '../../support/faulty-file-ops.js';
import type { Harness } from '../../support/engine-harness.js';
import { codeOf, journalDir, startEngine } from '../../support/engine-harness.js';

async function journalRecords(dir: string) {
  const journal = new FileJournal({ dir: journalDir(dir) });
  await journal.open();
  const records = [];
  for await (const record of journal.read(1)) records.push(record);
  await journal.close();
  return records;
}

describe('engine: faults', function () {
  this.timeout(30_000);
  let harness: Harness;
  let fileOps: FaultyFileOps;
  afterEach(() => harness.cleanup());

  describe('a failed fsync with commands pipelined behind it', () => {
    beforeEach(async () => {
      fileOps = new FaultyFileOps();
      harness = await startEngine({
        fileOps,
        breakerResetMs: 50,
        newId: (() => {
          let n = 0;
          return () => `r${++n}`;
        })(),
      });
      await harness.engine.putLocation('S1', { name: 'Store 1', type: 'store' });
      await harness.engine.execute('HOT', 'S1', { type: 'receive', quantity: 100 });
    });

    it('fails every caller of the failed batch, exposes none of it, and serves writes again after recovery', async () => {
      const { engine } = harness;
      const hold = fileOps.holdNext('fdatasync');
      // The first reservation's flush is held; everything after it queues behind it, decided on
      // state that includes the first reservation's events.
      const inFlight = Array.from({ length: 50 }, () =>
        engine.reserve({ lines: [{ sku: 'HOT', quantity: 1, locationId: 'S1' }], ttlSeconds: 600 }).then(
          (result) => ({ ok: true as const, id: result.reservation.id }),
          (error: { code?: string }) => ({ ok: false as const, code: error.code }),
        ),
      );
      await hold.reached;
      expect(engine.level('HOT', 'S1')?.reserved, 'nothing undurable is visible').to.equal(0);
      hold.release('EIO');
      const outcomes = await Promise.all(inFlight);
      const failed = outcomes.filter((outcome) => !outcome.ok);
      expect(failed.length, 'callers whose records were in or behind the failed batch').to.be.greaterThan(0);
      for (const outcome of failed) expect(outcome).to.deep.equal({ ok: false, code: 'STORAGE_UNAVAILABLE' });
      const acknowledged = outcomes.filter((outcome) => outcome.ok);
      // Wait for the breaker's trial call to recover the journal, then write again.
      let after: Awaited<ReturnType<typeof engine.reserve>> | undefined;
      for (let attempt = 0; attempt < 100 && !after; attempt++) {
        try {
          after = await engine.reserve({
            lines: [{ sku: 'HOT', quantity: 1, locationId: 'S1' }],
            ttlSeconds: 600,
          });
        } catch (error) {
          expect((error as { code?: string }).code).to.equal('STORAGE_UNAVAILABLE');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      expect(after?.reservation.status).to.equal('held');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Durable truth: what the journal holds after a restart equals what was acknowledged.
      const level = engine.level('HOT', 'S1');
      const engineAfterRestart = await harness.restart();
      expect(engineAfterRestart.level('HOT', 'S1')).to.deep.equal(level);
      const placed = (await journalRecords(harness.dir)).filter((record) =>
        record.events.some((event) => event.type === 'ReservationPlaced'),
      );
      expect(placed.length).to.equal(acknowledged.length + 1);
      expect(level?.reserved).to.equal(acknowledged.length + 1);
    });
  });

  describe('mailbox and passivation', () => {
    let clock: ManualClock;
    beforeEach(async () => {
      clock = new ManualClock('2026-03-01T10:00:00Z');
      harness = await startEngine({ clock, mailboxCapacity: 10, actorIdleMs: 1_000 });
      await harness.engine.putLocation('S1', { name: 'Store 1', type: 'store' });
    });

    it('refuses commands beyond the mailbox capacity with MAILBOX_FULL, and completes every accepted one', async () => {
      const { engine } = harness;
      const outcomes = await Promise.allSettled(
        Array.from({ length: 100 }, () => engine.execute('SKU', 'S1', { type: 'receive', quantity: 1 })),
      );
      const accepted = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
      const refused = outcomes.filter(
        (outcome) =>
          outcome.status === 'rejected' && (outcome.reason as { code?: string }).code === 'MAILBOX_FULL',
      ).length;
      expect(accepted).to.equal(10);
      expect(refused).to.equal(90);
      expect(engine.level('SKU', 'S1')?.onHand).to.equal(accepted);
      // Till events are recorded even when the mailbox is full: the sale already happened.
      const till = Array.from({ length: 30 }, (_, i) => ({
        seq: i + 1,
        type: 'sale' as const,
        sku: 'SKU',
        quantity: 1,
        occurredAt: '2026-03-01T10:00:00Z',
      }));
      const result = await engine.applyStoreEvents('S1', till);
      expect(result.applied).to.equal(30);
    });

    it('passivates idle actors and reactivates them from the durable state', async () => {
      const { engine } = harness;
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          engine.execute(`P${i}`, 'S1', { type: 'receive', quantity: i + 1 }),
        ),
      );
      expect(engine.metrics().activeActors).to.be.at.least(20);
      clock.advance(2_000);
      await engine.maintain();
      expect(engine.metrics().activeActors).to.equal(0);
      const again = await engine.execute('P7', 'S1', { type: 'sell', quantity: 2 });
      expect(again.level).to.include({ onHand: 6, version: 2 });
      expect(engine.metrics().activeActors).to.equal(1);
    });

    it('serves a command that arrives while its actor is being passivated from the next activation', async () => {
      const { engine } = harness;
      await engine.execute('RACE', 'S1', { type: 'receive', quantity: 5 });
      clock.advance(2_000);
      const command = engine.execute('RACE', 'S1', { type: 'sell', quantity: 1 });
      await engine.maintain();
      const result = await command;
      expect(result.level).to.include({ onHand: 4, version: 2 });
      expect(
        await codeOf(engine.execute('RACE', 'S1', { type: 'sell', quantity: 1, expectedVersion: 2 })),
      ).to.equal('RESOLVED');
    });
  });

  describe('the expiry worker', () => {
    let timers: sinon.SinonFakeTimers;
    afterEach(() => timers.restore());

    it('expires holds from its own timer, driven by the injected clock', async () => {
      timers = sinon.useFakeTimers({
        now: Date.parse('2026-03-01T10:00:00Z'),
        toFake: ['setInterval', 'clearInterval', 'Date'],
      });
      const clock = { now: () => Date.now() };
      harness = await startEngine({ clock, timers: true });
      const { engine } = harness;
      await engine.putLocation('S1', { name: 'Store 1', type: 'store' });
      await engine.execute('SKU', 'S1', { type: 'receive', quantity: 3 });
      const { reservation } = await engine.reserve({
        lines: [{ sku: 'SKU', quantity: 3, locationId: 'S1' }],
        ttlSeconds: 30,
      });
      await timers.tickAsync(29_000);
      expect(engine.reservation(reservation.id)?.status).to.equal('held');
      await timers.tickAsync(1_500);
      for (let i = 0; i < 100 && engine.reservation(reservation.id)?.status !== 'expired'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(engine.reservation(reservation.id)?.status).to.equal('expired');
      for (let i = 0; i < 100 && engine.level('SKU', 'S1')?.reserved !== 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 5));
      expect(engine.level('SKU', 'S1')).to.include({ reserved: 0, available: 3 });
    });
  });
});
