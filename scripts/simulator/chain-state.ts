// What is physically true in the chain (shelves, units owed to online orders, unrecorded losses), and how
// far behind the storefront's view of each stock level is. Both models keep one of each, so the ground
// truth and the staleness are measured the same way whichever model made the decisions.
import type { Scenario } from './scenario.js';

const grid = (stores: number, skus: number, fill: (s: number, k: number) => number): number[][] =>
  Array.from({ length: stores }, (_, s) => Array.from({ length: skus }, (_, k) => fill(s, k)));

/** Units, counted the same way in both models: initial + restocked + returned = sold + shrunk + on the shelf. */
export interface UnitLedger {
  readonly initial: number;
  readonly restocked: number;
  readonly returned: number;
  readonly soldInStore: number;
  readonly soldOnline: number;
  readonly shrunk: number;
  readonly onShelf: number;
}

export class PhysicalChain {
  private readonly shelf: number[][];
  /** Units promised to online orders at a level and not yet picked (the model keeps it current). */
  private readonly owedUnits: number[][];
  /** Units lost unrecorded since the level's last count. */
  private readonly unrecordedLoss: number[][];
  private initialUnits = 0;
  private restockedUnits = 0;
  private returnedUnits = 0;
  private soldInStoreUnits = 0;
  private soldOnlineUnits = 0;
  private shrunkUnits = 0;
  walkInCustomers = 0;
  unmetWalkInUnits = 0;

  constructor(
    scenario: Scenario,
    private readonly safetyStock: number,
  ) {
    const stores = scenario.stores.length;
    const skus = scenario.skus.length;
    this.shelf = grid(stores, skus, (s, k) => scenario.initialStock[s]?.[k] ?? 0);
    this.owedUnits = grid(stores, skus, () => 0);
    this.unrecordedLoss = grid(stores, skus, () => 0);
    this.initialUnits = this.shelf.flat().reduce((sum, units) => sum + units, 0);
  }

  onShelf(s: number, k: number): number {
    return this.shelf[s]?.[k] ?? 0;
  }

  owed(s: number, k: number): number {
    return this.owedUnits[s]?.[k] ?? 0;
  }

  owe(s: number, k: number, delta: number): void {
    const row = this.owedUnits[s];
    if (row) row[k] = (row[k] ?? 0) + delta;
  }

  /** Units lost without a record since the level's last count. */
  lostUnrecorded(s: number, k: number): number {
    return this.unrecordedLoss[s]?.[k] ?? 0;
  }

  /**
   * Units a new online customer could really have at this level: on the shelf, not promised to another
   * customer, above safety stock. `alsoOwed` adds promises the chain does not track itself (engine holds).
   */
  trulyAvailable(s: number, k: number, alsoOwed = 0): number {
    return Math.max(0, this.onShelf(s, k) - this.owed(s, k) - alsoOwed - this.safetyStock);
  }

  private add(s: number, k: number, delta: number): void {
    const row = this.shelf[s];
    if (row) row[k] = (row[k] ?? 0) + delta;
  }

  /** A walk-in takes what is on the shelf, up to what they came for; returns the units sold. */
  walkIn(s: number, k: number, quantity: number): number {
    this.walkInCustomers++;
    const sold = Math.min(quantity, this.onShelf(s, k));
    this.add(s, k, -sold);
    this.soldInStoreUnits += sold;
    this.unmetWalkInUnits += quantity - sold;
    return sold;
  }

  restock(s: number, k: number, quantity: number): void {
    this.add(s, k, quantity);
    this.restockedUnits += quantity;
  }

  returned(s: number, k: number): void {
    this.add(s, k, 1);
    this.returnedUnits++;
  }

  /** One unit vanishes unrecorded, if there is one; returns whether it did. */
  shrink(s: number, k: number): boolean {
    if (this.onShelf(s, k) <= 0) return false;
    this.add(s, k, -1);
    this.shrunkUnits++;
    const row = this.unrecordedLoss[s];
    if (row) row[k] = (row[k] ?? 0) + 1;
    return true;
  }

  /** A count: the store now knows the shelf; returns the units counted. */
  count(s: number, k: number): number {
    const row = this.unrecordedLoss[s];
    if (row) row[k] = 0;
    return this.onShelf(s, k);
  }

  /**
   * Why a pick found the shelf short: the unrecorded loss at the level, when the units would have been
   * there without it, or else the view the order was taken on.
   */
  shortfallCause(s: number, k: number, quantity: number): 'shrinkage' | 'staleView' {
    return this.onShelf(s, k) + this.lostUnrecorded(s, k) >= quantity ? 'shrinkage' : 'staleView';
  }

  /** A picker takes an online order's units off the shelf; false when they are not all there. */
  pick(s: number, k: number, quantity: number): boolean {
    if (this.onShelf(s, k) < quantity) return false;
    this.add(s, k, -quantity);
    this.soldOnlineUnits += quantity;
    return true;
  }

  ledger(): UnitLedger {
    return {
      initial: this.initialUnits,
      restocked: this.restockedUnits,
      returned: this.returnedUnits,
      soldInStore: this.soldInStoreUnits,
      soldOnline: this.soldOnlineUnits,
      shrunk: this.shrunkUnits,
      onShelf: this.shelf.flat().reduce((sum, units) => sum + units, 0),
    };
  }
}

/**
 * How far behind the store the storefront's view of each stock level is: the time of the oldest change
 * the store recorded (a sale, a delivery, a count) that the view has not applied yet. A level whose view
 * has every recorded change is 0 behind. Unrecorded losses are not changes anyone could have sent.
 */
export class ViewLag {
  /** Per level, the times of recorded changes not yet in the view, oldest first, from `head`. */
  private readonly pending: { times: number[]; head: number }[][];

  constructor(stores: number, skus: number) {
    this.pending = Array.from({ length: stores }, () =>
      Array.from({ length: skus }, () => ({ times: [], head: 0 })),
    );
  }

  private level(s: number, k: number): { times: number[]; head: number } {
    const level = this.pending[s]?.[k];
    if (!level) throw new RangeError(`no stock level [${s}][${k}]`);
    return level;
  }

  /** The store recorded a change at `at`. */
  recorded(s: number, k: number, at: number): void {
    this.level(s, k).times.push(at);
  }

  /** The view applied the oldest change it lacked (changes reach it in the store's order). */
  appliedOldest(s: number, k: number): void {
    const level = this.level(s, k);
    level.head++;
    if (level.head === level.times.length) {
      level.times = [];
      level.head = 0;
    }
  }

  /** The view applied everything the store had recorded (a sync). */
  appliedAll(s: number): void {
    for (const level of this.pending[s] ?? []) {
      level.times = [];
      level.head = 0;
    }
  }

  ageMs(s: number, k: number, now: number): number {
    const level = this.level(s, k);
    const oldest = level.times[level.head];
    return oldest === undefined ? 0 : now - oldest;
  }
}
