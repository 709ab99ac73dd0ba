// The hold set of a stock level (engine/domain/holds.ts): over random sequences of holds taken,
// replaced and released, small enough to stay an array and large enough to become the trie, it
// always answers like a plain Map, never changes a set already handed out, serialises to the
// bucket layout snapshots have always stored, and reads that layout back to the same holds.
import { expect } from 'chai';
import fc from 'fast-check';
import type { Hold, LegacyHolds } from '../../../engine/domain/holds.js';
import { HoldSet, hashOfId, holdSetOf } from '../../../engine/domain/holds.js';
import { evolve, holdOf, holdsOf, initialStockState } from '../../../engine/domain/stock.js';

/** A small id space makes replacing and releasing existing holds common; a large one grows the trie. */
const ops = (ids: number) => {
  const id = fc.integer({ min: 0, max: ids - 1 }).map((n) => `r-${n}`);
  return fc.array(
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('hold' as const),
          id,
          quantity: fc.integer({ min: 1, max: 9 }),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), id }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('atRisk' as const), id }) },
    ),
    { maxLength: 400 },
  );
};

/** The layout every earlier version kept in memory and in snapshots: 64 buckets by FNV-1a of the id. */
function legacyLayout(model: ReadonlyMap<string, Hold>): Record<number, Record<string, Hold>> {
  const buckets: Record<number, Record<string, Hold>> = {};
  for (const [id, hold] of [...model].sort((a, b) => a[1].order - b[1].order)) {
    (buckets[hashOfId(id) % 64] ??= {})[id] = { ...hold };
  }
  return buckets;
}

const plain = (entries: [string, Hold][]) =>
  entries.map(([id, hold]) => [
    id,
    { quantity: hold.quantity, expiresAt: hold.expiresAt, atRisk: hold.atRisk, order: hold.order },
  ]);

describe('HoldSet', () => {
  for (const ids of [6, 40, 3000]) {
    it(`answers like a Map over random holds and releases (${ids} distinct ids)`, () => {
      fc.assert(
        fc.property(ops(ids), (sequence) => {
          let set = HoldSet.EMPTY;
          const model = new Map<string, Hold>();
          const history: { set: HoldSet; snapshot: string }[] = [];
          sequence.forEach((op, step) => {
            const current = model.get(op.id);
            if (op.kind === 'hold') {
              const hold = {
                quantity: op.quantity,
                expiresAt: `2030-01-01T00:00:${String(step % 60).padStart(2, '0')}.000Z`,
                atRisk: false,
                order: step + 1,
              };
              set = set.with(op.id, hold);
              model.delete(op.id);
              model.set(op.id, hold);
            } else if (op.kind === 'release') {
              set = set.without(op.id);
              model.delete(op.id);
            } else if (current) {
              set = set.with(op.id, { ...current, atRisk: true });
              model.set(op.id, { ...current, atRisk: true });
            }
            history.push({ set, snapshot: JSON.stringify(set) });
            expect(set.size).to.equal(model.size);
            expect(set.get(op.id)).to.deep.equal(
              model.has(op.id) ? { id: op.id, ...model.get(op.id) } : undefined,
            );
          });
          for (const [id, hold] of model) expect(set.get(id), id).to.deep.include(hold);
          expect(set.get('absent')).to.equal(undefined);
          expect(plain(holdsOf(set))).to.deep.equal(
            plain([...model].sort((a, b) => a[1].order - b[1].order)),
          );
          if (model.size === 0) expect(set).to.equal(HoldSet.EMPTY);
          // Immutable: every set handed out earlier still serialises as it did.
          for (const { set: earlier, snapshot } of history)
            expect(JSON.stringify(earlier)).to.equal(snapshot);
          // Snapshots: the legacy layout, and it reads back to the same holds.
          const json = JSON.parse(JSON.stringify(set)) as LegacyHolds;
          expect(json).to.deep.equal(legacyLayout(model));
          const back = holdSetOf(json);
          expect(back.size).to.equal(model.size);
          expect(plain(holdsOf(back))).to.deep.equal(plain(holdsOf(set)));
        }),
        { numRuns: ids > 1000 ? 30 : 100 },
      );
    });
  }

  it('keeps holds whose ids collide in every hashed bit', () => {
    // Brute-force two ids with the same 30 low hash bits (what the trie levels use).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; !pair; n++) {
      const id = `c-${n}`;
      const key = hashOfId(id) & 0x3fffffff;
      const other = seen.get(key);
      if (other !== undefined) pair = [other, id];
      else seen.set(key, id);
    }
    let set = HoldSet.EMPTY;
    for (let n = 0; n < 20; n++)
      set = set.with(`f-${n}`, { quantity: 1, expiresAt: 'x', atRisk: false, order: n });
    set = set.with(pair[0], { quantity: 2, expiresAt: 'x', atRisk: false, order: 100 });
    set = set.with(pair[1], { quantity: 3, expiresAt: 'x', atRisk: false, order: 101 });
    expect(set.get(pair[0])?.quantity).to.equal(2);
    expect(set.get(pair[1])?.quantity).to.equal(3);
    expect(set.without(pair[0]).get(pair[1])?.quantity).to.equal(3);
    expect(set.without(pair[0]).get(pair[0])).to.equal(undefined);
    expect(set.without(pair[0]).size).to.equal(21);
  });

  it('still reads a set that lost its prototype (structuredClone, postMessage)', () => {
    let set = HoldSet.EMPTY;
    for (let n = 0; n < 30; n++)
      set = set.with(`r-${n}`, { quantity: n + 1, expiresAt: 'x', atRisk: false, order: n });
    for (const original of [
      set,
      set.without('r-3'),
      HoldSet.EMPTY.with('r-1', { quantity: 2, expiresAt: 'x', atRisk: false, order: 1 }),
    ]) {
      const cloned = structuredClone(original) as unknown as HoldSet;
      expect(cloned instanceof HoldSet).to.equal(false);
      expect(plain(holdsOf(cloned))).to.deep.equal(plain(holdsOf(original)));
      expect(holdOf(cloned, 'r-1')).to.deep.equal(holdOf(original, 'r-1'));
      expect(holdSetOf(cloned).toJSON()).to.deep.equal(original.toJSON());
    }
    expect(holdSetOf(structuredClone(HoldSet.EMPTY) as unknown as HoldSet)).to.equal(HoldSet.EMPTY);
  });

  it('reads holds a level carries in the legacy layout (older snapshots, tools)', () => {
    const legacy = {
      ...initialStockState,
      onHand: 10,
      reserved: 3,
      version: 2,
      holds: { [hashOfId('r-1') % 64]: { 'r-1': { quantity: 3, expiresAt: 'x', atRisk: false, order: 2 } } },
    };
    expect(holdOf(legacy.holds, 'r-1')?.quantity).to.equal(3);
    const released = evolve(legacy, {
      type: 'ReservationReleased',
      reservationId: 'r-1',
      quantity: 3,
      reason: 'cancelled',
      at: 'y',
    });
    expect(released.holds).to.equal(HoldSet.EMPTY);
    expect(released.reserved).to.equal(0);
  });
});
