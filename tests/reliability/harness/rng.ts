// A seeded random source for the harness: the workload, the fault schedule and their timings all come
// from one seed, each part from its own fork, so adding a client does not change the fault schedule.
import { seededRandom } from '../../support/tcp-fault-proxy.js';

export class Rng {
  readonly #next: () => number;
  constructor(readonly seed: number) {
    this.#next = seededRandom(seed);
  }
  /** A float in [0, 1). */
  float(): number {
    return this.#next();
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1));
  }
  chance(probability: number): boolean {
    return this.#next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.#next() * items.length)] as T;
  }
  /** Picks by weight: [[value, weight], ...]. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.#next() * total;
    for (const [value, weight] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (choices[choices.length - 1] as readonly [T, number])[0];
  }
  /** An independent stream named by `label`: the same seed and label always give the same stream. */
  fork(label: string): Rng {
    let hash = this.seed >>> 0;
    for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Rng(hash ^ 0x9e3779b9);
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with Date.now() in every process. */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
