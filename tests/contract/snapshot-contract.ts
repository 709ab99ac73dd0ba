// The SnapshotStore port's contract (storage/snapshot.ts), one suite run against every adapter: the lowdb
// store in file-journal.contract.spec.ts, the PostgreSQL store in pg-journal.contract.spec.ts. How each
// adapter lays out and verifies its partitions is tested next to it; this is what the engine relies on.
import { expect } from 'chai';
import {
  partitionOf,
  type LoadedSnapshot,
  type SnapshotStore,
  type SnapshotWrite,
} from '../../storage/snapshot.js';

export interface SnapshotFixture {
  /** A fresh store on storage of its own, holding no snapshot. */
  readonly store: SnapshotStore;
  /** A new store instance on the same storage (the previous one is closed if it needs closing). */
  reopen(): Promise<SnapshotStore>;
  /** Closes whatever needs closing and removes the storage. */
  cleanup(): Promise<void>;
}

const PARTITIONS = 4;

type State = Map<string, unknown>;

const stock = (count: number, onHand: number, prefix = 'SKU'): State =>
  new Map(
    Array.from({ length: count }, (_, i) => [
      `stock/${prefix}-${i}/STORE-1`,
      { onHand: onHand + i, holds: { [`r-${i}`]: { quantity: 1 } }, version: i + 1 },
    ]),
  );

/** The per-partition maps a snapshot write takes; `only` limits it to the partitions that changed. */
const partitioned = (state: State, only?: readonly number[], partitionCount = PARTITIONS) => {
  const changed = new Map<number, Map<string, unknown>>();
  for (let index = 0; index < partitionCount; index++)
    if (!only || only.includes(index)) changed.set(index, new Map());
  for (const [stream, value] of state) changed.get(partitionOf(stream, partitionCount))?.set(stream, value);
  return changed;
};

const snapshotOf = (
  seq: number,
  state: State,
  only?: readonly number[],
  partitionCount = PARTITIONS,
): SnapshotWrite => ({
  seq,
  takenAt: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
  partitionCount,
  changed: partitioned(state, only, partitionCount),
});

const entriesOf = async (snapshot: LoadedSnapshot | null): Promise<State> => {
  if (!snapshot) throw new Error('expected a snapshot, found none');
  const entries: State = new Map();
  for await (const [stream, value] of snapshot.entries()) {
    expect(entries.has(stream), `${stream} appears twice`).to.equal(false);
    entries.set(stream, value);
  }
  return entries;
};

const sorted = (state: State) => [...state].sort(([a], [b]) => a.localeCompare(b));

export function snapshotContract(name: string, makeStore: () => Promise<SnapshotFixture>): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let fixture: SnapshotFixture;
    let store: SnapshotStore;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('has no snapshot at first', async () => {
      expect(await store.latest()).to.equal(null);
    });

    it('round-trips a snapshot: seq, takenAt, partitionCount and every entry', async () => {
      const state = stock(40, 10);
      await store.write(snapshotOf(7, state));
      const latest = await store.latest();
      expect(latest?.seq).to.equal(7);
      expect(latest?.takenAt).to.equal(snapshotOf(7, state).takenAt);
      expect(latest?.partitionCount).to.equal(PARTITIONS);
      expect(sorted(await entriesOf(latest))).to.deep.equal(sorted(state));
    });

    it('carries unchanged partitions over, through many snapshots, and rewrites the changed ones whole', async () => {
      const state = stock(60, 100);
      await store.write(snapshotOf(10, state));
      // Each later snapshot changes one partition: its streams get new values, one of them is dropped.
      for (const [step, index] of [1, 2, 1, 3, 1].entries()) {
        const streams = [...state.keys()].filter((stream) => partitionOf(stream, PARTITIONS) === index);
        for (const stream of streams) state.set(stream, { onHand: step, version: 100 + step });
        const dropped = streams[0];
        if (dropped !== undefined) state.delete(dropped);
        await store.write(snapshotOf(20 + step, state, [index]));
      }
      const latest = await store.latest();
      expect(latest?.seq).to.equal(24);
      expect(sorted(await entriesOf(latest))).to.deep.equal(sorted(state));
      // Partition 0 was written only by the first snapshot and carried through all the others.
      const untouched = [...state.keys()].filter((stream) => partitionOf(stream, PARTITIONS) === 0);
      expect(untouched.length).to.be.greaterThan(0);
    });

    it('ignores a second snapshot at the same seq and refuses an older one', async () => {
      await store.write(snapshotOf(10, stock(5, 1)));
      await store.write(snapshotOf(10, stock(5, 999)));
      expect(sorted(await entriesOf(await store.latest()))).to.deep.equal(sorted(stock(5, 1)));

      let error: unknown;
      await store.write(snapshotOf(9, stock(5, 2))).catch((caught: unknown) => (error = caught));
      expect(error).to.be.instanceOf(RangeError);
      expect((await store.latest())?.seq).to.equal(10);
    });

    it('refuses a partition outside partitionCount and a bad partitionCount', async () => {
      const bad = new Map([[PARTITIONS, new Map<string, unknown>()]]);
      for (const snapshot of [
        { seq: 1, takenAt: 'x', partitionCount: PARTITIONS, changed: bad },
        { seq: 1, takenAt: 'x', partitionCount: 0, changed: new Map() },
      ]) {
        let error: unknown;
        await store.write(snapshot).catch((caught: unknown) => (error = caught));
        expect(error).to.be.instanceOf(RangeError);
      }
      expect(await store.latest()).to.equal(null);
    });

    it('starts every unlisted partition empty when the partition count changes', async () => {
      await store.write(snapshotOf(10, stock(30, 5)));
      const next = stock(30, 50, 'NEW');
      await store.write(snapshotOf(20, next, [0], 2));
      const latest = await store.latest();
      expect(latest?.partitionCount).to.equal(2);
      const expected = new Map([...next].filter(([stream]) => partitionOf(stream, 2) === 0));
      expect(sorted(await entriesOf(latest))).to.deep.equal(sorted(expected));
    });

    it('keeps the newest snapshot across a new store instance', async () => {
      const state = stock(25, 3);
      await store.write(snapshotOf(5, stock(25, 1)));
      await store.write(snapshotOf(6, state, [0, 2]));
      store = await fixture.reopen();
      const latest = await store.latest();
      expect(latest?.seq).to.equal(6);
      const expected = new Map(stock(25, 1));
      for (const [stream, value] of state)
        if ([0, 2].includes(partitionOf(stream, PARTITIONS))) expected.set(stream, value);
      expect(sorted(await entriesOf(latest))).to.deep.equal(sorted(expected));
    });
  });
}
