// The active holds of one stock level, by reservation id: an immutable set that is cheap in both
// directions that matter. Most levels hold nothing (one shared empty set) or a few holds (a small
// array, scanned); a flash-sale level holds thousands, kept in a persistent hash trie (32-way, by a
// hash of the id), so taking or releasing one copies a handful of 32-slot nodes instead of a bucket
// of hundreds of holds. The state stays immutable: snapshots keep references without copying.
//
// Serialised (snapshots: JSON.stringify calls toJSON) in the layout every earlier version wrote, 64
// buckets by an FNV-1a hash of the id, `{ "<bucket>": { "<reservationId>": hold } }`, and that
// layout is accepted wherever holds are read, so existing snapshots load unchanged.

export interface Hold {
  readonly quantity: number;
  readonly expiresAt: string;
  readonly atRisk: boolean;
  /** The level's version when the hold was taken: orders holds oldest to newest. */
  readonly order: number;
}

/** The serialised (and pre-HoldSet in-memory) layout: holds by bucket, then by reservation id. */
export type LegacyHolds = Readonly<Record<number, Readonly<Record<string, Hold>>>>;

/** A hold with its reservation id, as stored. */
interface Entry extends Hold {
  readonly id: string;
}

/** A trie node: 32 slots, each empty, a hold, or a deeper node; at MAX_DEPTH a plain list of holds. */
type Slot = Entry | Slot[] | undefined;

/** A HoldSet's own fields as plain data (what structuredClone leaves of one). */
interface ClonedHoldSet {
  readonly size: number;
  readonly small?: readonly Entry[] | undefined;
  readonly root?: readonly Slot[] | undefined;
}

const LEGACY_BUCKETS = 64;
/** Up to this many holds a level keeps a plain array; above, the trie. */
const SMALL_MAX = 8;
const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
/** 6 levels of 5 bits use 30 of the hash's 32 bits; ids that still collide share a list there. */
const MAX_DEPTH = 6;

/** FNV-1a of the id, 32 bits unsigned (the same hash the legacy buckets use). */
export function hashOfId(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const entryOf = (id: string, hold: Hold): Entry => ({
  id,
  quantity: hold.quantity,
  expiresAt: hold.expiresAt,
  atRisk: hold.atRisk,
  order: hold.order,
});

function trieGet(node: Slot[], id: string, hash: number, depth: number): Entry | undefined {
  for (;;) {
    if (depth === MAX_DEPTH) {
      for (const slot of node) if ((slot as Entry).id === id) return slot as Entry;
      return undefined;
    }
    const slot = node[(hash >>> (depth * BITS)) & MASK];
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) return slot.id === id ? slot : undefined;
    node = slot;
    depth++;
  }
}

function trieSet(node: Slot[], entry: Entry, hash: number, depth: number): Slot[] {
  if (depth === MAX_DEPTH) {
    const list = node.filter((slot) => (slot as Entry).id !== entry.id);
    list.push(entry);
    return list;
  }
  const index = (hash >>> (depth * BITS)) & MASK;
  const slot = node[index];
  const copy = node.slice();
  if (slot === undefined || (!Array.isArray(slot) && slot.id === entry.id)) {
    copy[index] = entry;
  } else if (Array.isArray(slot)) {
    copy[index] = trieSet(slot, entry, hash, depth + 1);
  } else {
    const child = trieSet(emptyNode(depth + 1), slot, hashOfId(slot.id), depth + 1);
    copy[index] = trieSet(child, entry, hash, depth + 1);
  }
  return copy;
}

function trieDelete(node: Slot[], id: string, hash: number, depth: number): Slot[] {
  if (depth === MAX_DEPTH) return node.filter((slot) => (slot as Entry).id !== id);
  const index = (hash >>> (depth * BITS)) & MASK;
  const slot = node[index];
  if (slot === undefined) return node;
  const copy = node.slice();
  if (Array.isArray(slot)) {
    const child = trieDelete(slot, id, hash, depth + 1);
    if (child === slot) return node;
    copy[index] = child.some((item) => item !== undefined) ? child : undefined;
  } else {
    if (slot.id !== id) return node;
    copy[index] = undefined;
  }
  return copy;
}

function trieCollect(node: Slot[], into: Entry[]): void {
  for (const slot of node) {
    if (slot === undefined) continue;
    if (Array.isArray(slot)) trieCollect(slot, into);
    else into.push(slot);
  }
}

const emptyNode = (depth: number): Slot[] =>
  depth === MAX_DEPTH ? [] : new Array<Slot>(WIDTH).fill(undefined);

export class HoldSet {
  /** The one empty set every level without holds shares. */
  static readonly EMPTY: HoldSet = Object.freeze(new HoldSet(0, Object.freeze([]), undefined)) as HoldSet;

  private constructor(
    /** Number of holds. */
    readonly size: number,
    /** The holds in insertion order, while there are at most SMALL_MAX of them. */
    private readonly small: readonly Entry[] | undefined,
    /** The trie, above SMALL_MAX. */
    private readonly root: readonly Slot[] | undefined,
  ) {}

  /** Builds a set from holds in the serialised layout (a snapshot, an older in-memory state). */
  static fromLegacy(legacy: LegacyHolds): HoldSet {
    const entries: Entry[] = [];
    for (const bucket of Object.values(legacy)) {
      for (const [id, hold] of Object.entries(bucket)) entries.push(entryOf(id, hold));
    }
    entries.sort((a, b) => a.order - b.order);
    let set = HoldSet.EMPTY;
    for (const entry of entries) set = set.#with(entry);
    return set;
  }

  /** A set from the fields of one that lost its prototype (see asHoldSet). */
  static revive(cloned: ClonedHoldSet): HoldSet {
    if (cloned.size === 0) return HoldSet.EMPTY;
    return new HoldSet(cloned.size, cloned.small, cloned.small === undefined ? cloned.root : undefined);
  }

  get(id: string): Hold | undefined {
    if (this.small !== undefined) {
      for (const entry of this.small) if (entry.id === id) return entry;
      return undefined;
    }
    return trieGet(this.root as Slot[], id, hashOfId(id), 0);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** A set with `hold` under `id` (replacing any hold the id had). */
  with(id: string, hold: Hold): HoldSet {
    return this.#with(entryOf(id, hold));
  }

  #with(entry: Entry): HoldSet {
    const small = this.small;
    if (small !== undefined) {
      const at = small.findIndex((existing) => existing.id === entry.id);
      if (at !== -1) {
        const copy = small.slice();
        copy[at] = entry;
        return new HoldSet(this.size, copy, undefined);
      }
      if (small.length < SMALL_MAX) return new HoldSet(this.size + 1, [...small, entry], undefined);
      let root = emptyNode(0);
      for (const existing of small) root = trieSet(root, existing, hashOfId(existing.id), 0);
      return new HoldSet(this.size + 1, undefined, trieSet(root, entry, hashOfId(entry.id), 0));
    }
    const root = this.root as Slot[];
    const hash = hashOfId(entry.id);
    const added = trieGet(root, entry.id, hash, 0) === undefined;
    return new HoldSet(this.size + (added ? 1 : 0), undefined, trieSet(root, entry, hash, 0));
  }

  /** A set without `id`'s hold (this same set when it has none). */
  without(id: string): HoldSet {
    const small = this.small;
    if (small !== undefined) {
      const at = small.findIndex((existing) => existing.id === id);
      if (at === -1) return this;
      if (small.length === 1) return HoldSet.EMPTY;
      return new HoldSet(
        this.size - 1,
        small.filter((_, index) => index !== at),
        undefined,
      );
    }
    const root = this.root as Slot[];
    const next = trieDelete(root, id, hashOfId(id), 0);
    if (next === root) return this;
    const size = this.size - 1;
    if (size > SMALL_MAX / 2) return new HoldSet(size, undefined, next);
    // Shrunk well below the threshold: back to a plain array (oldest first, as it was built).
    const entries: Entry[] = [];
    trieCollect(next, entries);
    entries.sort((a, b) => a.order - b.order);
    return size === 0 ? HoldSet.EMPTY : new HoldSet(size, entries, undefined);
  }

  /** Every hold as [reservationId, hold], in no particular order. */
  entries(): [string, Hold][] {
    const all: Entry[] = [];
    if (this.small !== undefined) all.push(...this.small);
    else trieCollect(this.root as Slot[], all);
    return all.map((entry) => [entry.id, entry]);
  }

  /** The serialised layout (see the top of this file). */
  toJSON(): Record<number, Record<string, Hold>> {
    const buckets: Record<number, Record<string, Hold>> = {};
    if (this.size === 0) return buckets;
    for (const [id, hold] of this.entries().sort((a, b) => a[1].order - b[1].order)) {
      const bucket = hashOfId(id) % LEGACY_BUCKETS;
      // A bucket keyed by reservation ids is a dictionary: built as one (no prototype), adding an id is a
      // hash insert rather than a new hidden class per id, which made large levels slow to snapshot.
      (buckets[bucket] ??= Object.create(null) as Record<string, Hold>)[id] = {
        quantity: hold.quantity,
        expiresAt: hold.expiresAt,
        atRisk: hold.atRisk,
        order: hold.order,
      };
    }
    return buckets;
  }
}

/** Holds as a level may carry them: the set, or the serialised layout (from a snapshot or a tool). */
export type Holds = HoldSet | LegacyHolds;

/**
 * The set behind `holds` if it is one, including a set that lost its prototype on the way (a
 * structuredClone, a postMessage: its fields arrive as plain data); undefined for the legacy layout,
 * whose keys are bucket numbers and never `size`.
 */
export function asHoldSet(holds: Holds): HoldSet | undefined {
  if (holds instanceof HoldSet) return holds;
  return 'size' in holds ? HoldSet.revive(holds as unknown as ClonedHoldSet) : undefined;
}

export const holdSetOf = (holds: Holds): HoldSet =>
  asHoldSet(holds) ?? HoldSet.fromLegacy(holds as LegacyHolds);
