// The engine end to end on a real file journal: stock commands, reads, optimistic concurrency,
// idempotency (also across restarts) and recovery equal to what was acknowledged.
import { expect } from 'chai';
import { ManualClock } from '../../../engine/clock.js';
import { FileJournal } from '../../../storage/file-journal.js';
import type { Harness } from '../../support/engine-harness.js';
import { codeOf, journalDir, startEngine } from '../../support/engine-harness.js';

describe('engine: stock levels on a durable journal', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await startEngine({ clock: new ManualClock('2026-03-01T10:00:00Z') });
    await harness.engine.putLocation('S1', { name: 'Store 1', type: 'store' });
    await harness.engine.putLocation('W1', { name: 'Warehouse', type: 'warehouse' });
  });
  afterEach(() => harness.cleanup());

  it('registers locations once and updates them only on change', async () => {
    const again = await harness.engine.putLocation('S1', { name: 'Store 1', type: 'store' });
    expect(again.created).to.equal(false);
    expect(again.location.version).to.equal(1);
    const renamed = await harness.engine.putLocation('S1', { name: 'Store One', type: 'store' });
    expect(renamed.location).to.include({ name: 'Store One', version: 2 });
    expect(harness.engine.locations().map((location) => location.id)).to.deep.equal(['S1', 'W1']);
  });

  it('refuses stock commands on an unknown location', async () => {
    expect(await codeOf(harness.engine.execute('SKU-1', 'NOPE', { type: 'receive', quantity: 1 }))).to.equal(
      'LOCATION_NOT_FOUND',
    );
  });

  it('receives, sells, adjusts and counts, with the version counting events', async () => {
    const { engine } = harness;
    await engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 10 });
    await engine.execute('SKU-1', 'S1', { type: 'sell', quantity: 3 });
    await engine.execute('SKU-1', 'S1', { type: 'adjust', delta: -2, reason: 'damage' });
    const counted = await engine.execute('SKU-1', 'S1', {
      type: 'count',
      onHand: 4,
      safetyStock: 1,
      expectedVersion: 3,
    });
    expect(counted.level).to.include({ onHand: 4, safetyStock: 1, available: 3, version: 5 });
    expect(engine.level('SKU-1', 'S1')).to.deep.equal(counted.level);
    expect(
      await codeOf(engine.execute('SKU-1', 'S1', { type: 'count', onHand: 9, expectedVersion: 3 })),
    ).to.equal('VERSION_CONFLICT');
    expect(
      await codeOf(engine.execute('SKU-1', 'S1', { type: 'adjust', delta: -50, reason: 'damage' })),
    ).to.equal('STOCK_NEGATIVE');
    expect(engine.level('SKU-1', 'S1')?.version).to.equal(5);
  });

  it('shows the storefront every location of a SKU', async () => {
    const { engine } = harness;
    await engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 2 });
    await engine.execute('SKU-1', 'W1', { type: 'receive', quantity: 7 });
    expect(engine.levelsOf('SKU-1').map((level) => [level.locationId, level.available])).to.deep.equal([
      ['S1', 2],
      ['W1', 7],
    ]);
    expect(engine.levelsOf('UNKNOWN')).to.deep.equal([]);
  });

  it('applies an idempotent command once and returns the first answer, also after a restart', async () => {
    const idem = { key: 'admin:k1', fingerprint: 'f1' };
    const first = await harness.engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 5 }, idem);
    const retry = await harness.engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 5 }, idem);
    expect(retry.replayed).to.equal(true);
    expect(retry.level).to.deep.equal(first.level);
    expect(
      await codeOf(
        harness.engine.execute(
          'SKU-1',
          'S1',
          { type: 'receive', quantity: 6 },
          { key: 'admin:k1', fingerprint: 'f2' },
        ),
      ),
    ).to.equal('IDEMPOTENCY_KEY_REUSED');
    const engine = await harness.crashRestart();
    const afterRestart = await engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 5 }, idem);
    expect(afterRestart.replayed).to.equal(true);
    expect(afterRestart.level).to.deep.equal(first.level);
    expect(engine.level('SKU-1', 'S1')?.onHand).to.equal(5);
  });

  it('refuses a second call with the same key while the first is in flight', async () => {
    const idem = { key: 'admin:k2', fingerprint: 'f' };
    const first = harness.engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 1 }, idem);
    const second = harness.engine.execute('SKU-1', 'S1', { type: 'receive', quantity: 1 }, idem);
    expect(await codeOf(second)).to.equal('IDEMPOTENCY_IN_FLIGHT');
    await first;
    expect(harness.engine.level('SKU-1', 'S1')?.onHand).to.equal(1);
  });

  it('recovers exactly the acknowledged state from the journal alone, and from snapshot plus tail', async () => {
    const { engine } = harness;
    for (let i = 0; i < 50; i++)
      await engine.execute(`SKU-${i % 7}`, i % 2 ? 'S1' : 'W1', { type: 'receive', quantity: i + 1 });
    await engine.snapshot();
    for (let i = 0; i < 20; i++) await engine.execute(`SKU-${i % 5}`, 'S1', { type: 'sell', quantity: 1 });
    const before = ['S1', 'W1'].flatMap((location) =>
      Array.from({ length: 7 }, (_, i) => engine.level(`SKU-${i}`, location)),
    );
    const fromSnapshot = await harness.crashRestart();
    const afterSnapshot = ['S1', 'W1'].flatMap((location) =>
      Array.from({ length: 7 }, (_, i) => fromSnapshot.level(`SKU-${i}`, location)),
    );
    expect(afterSnapshot).to.deep.equal(before);
    expect(fromSnapshot.metrics().recovery?.snapshotSeq).to.be.greaterThan(0);
    const journalOnly = await harness.crashRestart({ snapshots: undefined });
    const afterReplay = ['S1', 'W1'].flatMap((location) =>
      Array.from({ length: 7 }, (_, i) => journalOnly.level(`SKU-${i}`, location)),
    );
    expect(afterReplay).to.deep.equal(before);
  });

  it('writes one journal record per decision with the level before it, and a history from the journal', async () => {
    const { engine } = harness;
    await engine.execute('SKU-9', 'S1', { type: 'receive', quantity: 4, reference: 'PO-1' });
    await engine.execute('SKU-9', 'S1', { type: 'sell', quantity: 1 });
    const journal = new FileJournal({ dir: journalDir(harness.dir) });
    await journal.open();
    const records = [];
    for await (const record of journal.read(1)) if (record.stream === 'stock/SKU-9/S1') records.push(record);
    await journal.close();
    expect(records.map((record) => record.events.map((event) => event.type))).to.deep.equal([
      ['StockReceived'],
      ['StockSold'],
    ]);
    expect(records[1]?.meta?.['before']).to.deep.equal({ onHand: 4, reserved: 0, safetyStock: 0 });
    const history = await engine.history('SKU-9', 'S1', { limit: 10 });
    expect(history.items.map((item) => [item.type, item.version, item.level?.onHand])).to.deep.equal([
      ['StockReceived', 1, 4],
      ['StockSold', 2, 3],
    ]);
    const page = await engine.history('SKU-9', 'S1', { limit: 1 });
    const rest = await engine.history('SKU-9', 'S1', { after: page.next ?? undefined, limit: 10 });
    expect(rest.items.map((item) => item.type)).to.deep.equal(['StockSold']);
  });
});
