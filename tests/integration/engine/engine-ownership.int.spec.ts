// Partition ownership in cluster mode: a node expires only the reservations of partitions it looks
// after, and when it gains partitions from a node that left it expires theirs too. The ownership
// port is driven directly here; the PostgreSQL implementation is tested with real processes.
import { expect } from 'chai';
import { ManualClock } from '../../../engine/clock.js';
import type { PartitionOwnership } from '../../../engine/engine.js';
import { reservationStream } from '../../../engine/streams.js';
import { partitionOf } from '../../../storage/snapshot.js';
import type { Harness } from '../../support/engine-harness.js';
import { startEngine } from '../../support/engine-harness.js';

class TestOwnership implements PartitionOwnership {
  readonly partitions = 4;
  owned = new Set([0, 1]);
  private listener: ((partitions: readonly number[]) => void) | undefined;
  owns(partition: number): boolean {
    return this.owned.has(partition);
  }
  onGained(listener: (partitions: readonly number[]) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }
  gain(partitions: number[]): void {
    for (const partition of partitions) this.owned.add(partition);
    this.listener?.(partitions);
  }
}

describe('engine: partition ownership', () => {
  let harness: Harness;
  afterEach(() => harness.cleanup());

  it('expires only what it looks after, and takes over the rest when it gains their partitions', async () => {
    const clock = new ManualClock('2026-03-01T10:00:00Z');
    const ownership = new TestOwnership();
    let n = 0;
    harness = await startEngine({ clock, ownership, newId: () => `r${++n}` });
    const { engine } = harness;
    await engine.putLocation('S1', { name: 'Store', type: 'store' });
    await engine.execute('SKU', 'S1', { type: 'receive', quantity: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) {
      ids.push(
        (await engine.reserve({ lines: [{ sku: 'SKU', quantity: 1, locationId: 'S1' }], ttlSeconds: 60 }))
          .reservation.id,
      );
    }
    const mine = ids.filter((id) => ownership.owns(partitionOf(reservationStream(id), 4)));
    const theirs = ids.filter((id) => !mine.includes(id));
    expect(mine.length).to.be.greaterThan(0);
    expect(theirs.length).to.be.greaterThan(0);
    clock.advance(61_000);
    expect(await engine.expireDue()).to.equal(mine.length);
    for (const id of theirs) expect(engine.reservation(id)?.status).to.equal('held');
    ownership.gain([2, 3]);
    for (let i = 0; i < 100 && theirs.some((id) => engine.reservation(id)?.status !== 'expired'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const id of theirs) expect(engine.reservation(id)?.status).to.equal('expired');
    // The releases follow each expiry decision: wait for them to be durable.
    for (let i = 0; i < 100 && engine.level('SKU', 'S1')?.reserved !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(engine.level('SKU', 'S1')?.reserved).to.equal(0);
  });
});
