// The simulator's building blocks: the seeded generator fixes every draw, and the agenda hands actions
// back in time order with ties in scheduling order, which is what makes a run repeatable.
import { expect } from 'chai';
import fc from 'fast-check';
import { Agenda } from '../../../scripts/simulator/agenda.js';
import { Random, cumulativeOf, deriveSeed, mulberry32 } from '../../../scripts/simulator/prng.js';

describe('simulator: seeded generator', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number) => Array.from({ length: 20 }, mulberry32(seed));
    expect(draw(7)).to.deep.equal(draw(7));
    expect(draw(7)).to.not.deep.equal(draw(8));
  });

  it('stays in [0, 1) and is roughly uniform', () => {
    const next = mulberry32(123);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const value = next();
      expect(value).to.be.at.least(0).and.below(1);
      buckets[Math.floor(value * 10)]! += 1;
    }
    for (const count of buckets) expect(count).to.be.within(9_500, 10_500);
  });

  it('derives independent named streams from one seed', () => {
    expect(deriveSeed(42, 'online')).to.equal(deriveSeed(42, 'online'));
    expect(deriveSeed(42, 'online')).to.not.equal(deriveSeed(42, 'walk-ins/S001'));
    expect(deriveSeed(42, 'online')).to.not.equal(deriveSeed(43, 'online'));
  });

  it('draws exponential, weighted and Poisson values with the requested means', () => {
    const random = new Random(99);
    const n = 50_000;
    let exponential = 0;
    let poisson = 0;
    const picks = [0, 0, 0];
    const cumulative = cumulativeOf([1, 2, 7]);
    for (let i = 0; i < n; i++) {
      exponential += random.exponential(30);
      poisson += random.poisson(3);
      picks[random.weighted(cumulative)]! += 1;
    }
    expect(exponential / n).to.be.closeTo(30, 1);
    expect(poisson / n).to.be.closeTo(3, 0.1);
    expect(picks[0]! / n).to.be.closeTo(0.1, 0.01);
    expect(picks[2]! / n).to.be.closeTo(0.7, 0.01);
  });

  it('keeps int() within its bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: -5, max: 5 }), (seed, min) => {
        const random = new Random(seed);
        for (let i = 0; i < 50; i++) expect(random.int(min, min + 3)).to.be.within(min, min + 3);
      }),
    );
  });
});

describe('simulator: agenda', () => {
  it('pops in time order, ties in the order they were pushed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const agenda = new Agenda<number>();
        times.forEach((at, index) => agenda.push(at, index));
        const popped: { at: number; item: number }[] = [];
        for (let next = agenda.pop(); next; next = agenda.pop()) popped.push(next);
        const expected = times
          .map((at, index) => ({ at, item: index }))
          .sort((a, b) => a.at - b.at || a.item - b.item);
        expect(popped).to.deep.equal(expected);
      }),
    );
  });
});
