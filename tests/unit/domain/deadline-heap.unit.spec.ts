// The expiry worker's min-heap: whatever the order of pushes (duplicates and re-pushed extensions
// included), pops come out by deadline, never skipping one that is due.
import { expect } from 'chai';
import fc from 'fast-check';
import { DeadlineHeap } from '../../../engine/runtime/deadline-heap.js';

const deadline = fc.integer({ min: 0, max: 1_000 });
const entries = fc.array(fc.record({ at: deadline, id: fc.constantFrom('r-1', 'r-2', 'r-3', 'r-4') }), {
  maxLength: 200,
});

describe('DeadlineHeap', () => {
  it('is empty to start with', () => {
    const heap = new DeadlineHeap();
    expect(heap.size).to.equal(0);
    expect(heap.peek()).to.equal(undefined);
    expect(heap.pop()).to.equal(undefined);
  });

  it('pops every pushed entry once, in non-decreasing deadline order', () => {
    fc.assert(
      fc.property(entries, (pushed) => {
        const heap = new DeadlineHeap();
        for (const { at, id } of pushed) heap.push(at, id);
        expect(heap.size).to.equal(pushed.length);
        const popped: { at: number; id: string }[] = [];
        for (let next = heap.pop(); next; next = heap.pop()) popped.push(next);
        for (let i = 1; i < popped.length; i++) {
          expect((popped[i] as { at: number }).at).to.be.at.least((popped[i - 1] as { at: number }).at);
        }
        const key = (entry: { at: number; id: string }) => `${entry.at}:${entry.id}`;
        expect(popped.map(key).sort()).to.deep.equal(pushed.map(key).sort());
        expect(heap.size).to.equal(0);
      }),
    );
  });

  it('always pops the earliest deadline still inside, with pushes and pops interleaved', () => {
    const operations = fc.array(fc.oneof(deadline, fc.constant('pop' as const)), { maxLength: 300 });
    fc.assert(
      fc.property(operations, (ops) => {
        const heap = new DeadlineHeap();
        const inside: number[] = [];
        ops.forEach((op, index) => {
          if (op === 'pop') {
            const expected = inside.length === 0 ? undefined : Math.min(...inside);
            expect(heap.peek()?.at).to.equal(expected);
            const popped = heap.pop();
            expect(popped?.at).to.equal(expected);
            if (expected !== undefined) inside.splice(inside.indexOf(expected), 1);
          } else {
            heap.push(op, `r-${index}`);
            inside.push(op);
          }
          expect(heap.size).to.equal(inside.length);
        });
      }),
    );
  });
});
