// Snapshots in partitions: round trip, unchanged partitions carried over by reference, retention of two
// manifests, and integrity: a damaged newest snapshot falls back to the previous one, a flipped bit is caught.
import { expect } from 'chai';
import fc from 'fast-check';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import {
  DurableJsonFile,
  LowdbSnapshotStore,
  partitionJson,
  SnapshotIntegrityError,
} from '../../../storage/lowdb-snapshots.js';
import {
  partitionOf,
  SnapshotsUnreadableError,
  type LoadedSnapshot,
  type SnapshotWrite,
} from '../../../storage/snapshot.js';
import { FaultyFileOps } from '../../support/faulty-file-ops.js';
import { spyLogger } from '../../support/journal-helpers.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';

const PARTITIONS = 4;

/** Splits a full state into the per-partition maps a snapshot write takes. */
const partitioned = (state: ReadonlyMap<string, unknown>, only?: readonly number[]) => {
  const changed = new Map<number, Map<string, unknown>>();
  for (let index = 0; index < PARTITIONS; index++)
    if (!only || only.includes(index)) changed.set(index, new Map());
  for (const [stream, value] of state) changed.get(partitionOf(stream, PARTITIONS))?.set(stream, value);
  return changed;
};

const snapshotOf = (
  seq: number,
  state: ReadonlyMap<string, unknown>,
  only?: readonly number[],
): SnapshotWrite => ({
  seq,
  takenAt: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
  partitionCount: PARTITIONS,
  changed: partitioned(state, only),
});

const entriesOf = async (snapshot: LoadedSnapshot): Promise<Map<string, unknown>> => {
  const entries = new Map<string, unknown>();
  for await (const [stream, value] of snapshot.entries()) entries.set(stream, value);
  return entries;
};

const stockState = (count: number, onHand: number): Map<string, unknown> =>
  new Map(
    Array.from({ length: count }, (_, i) => [`stock/SKU-${i}/STORE-1`, { onHand: onHand + i, version: i }]),
  );

const flipBit = async (file: string, bitIndex: number): Promise<void> => {
  const bytes = await readFile(file);
  const at = Math.floor(bitIndex / 8) % bytes.length;
  bytes[at] = (bytes[at] ?? 0) ^ (1 << (bitIndex % 8));
  await writeFile(file, bytes);
};

describe('LowdbSnapshotStore', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await makeTempDir('snapshots');
  });
  afterEach(async () => removeTempDir(dir));

  it('a background snapshot pauses after each partition it writes, a snapshot at stop does not; both load the same', async () => {
    const state = stockState(100, 3);
    const pauses: number[] = [];
    const store = new LowdbSnapshotStore({
      dir,
      pause: (ms) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    });
    await store.write({ ...snapshotOf(10, state), background: true });
    expect(pauses).to.have.length(PARTITIONS);
    for (const ms of pauses) expect(ms).to.be.at.least(0);
    await store.write(snapshotOf(11, state));
    expect(pauses).to.have.length(PARTITIONS);
    expect(await entriesOf((await new LowdbSnapshotStore({ dir }).latest())!)).to.deep.equal(state);
  });

  it('has no snapshot in an empty or missing folder', async () => {
    expect(await new LowdbSnapshotStore({ dir: path.join(dir, 'absent') }).latest()).to.equal(null);
  });

  it('round-trips a snapshot across partitions and a new store instance', async () => {
    const state = stockState(200, 5);
    state.set('reservation/r-1', { status: 'held', lines: [{ sku: 'SKU-1', quantity: 2 }] });
    await new LowdbSnapshotStore({ dir }).write(snapshotOf(42, state));

    const loaded = await new LowdbSnapshotStore({ dir }).latest();
    expect(loaded).to.deep.include({
      seq: 42,
      takenAt: '2030-01-01T00:00:42.000Z',
      partitionCount: PARTITIONS,
    });
    expect(await entriesOf(loaded!)).to.deep.equal(state);

    const names = (await readdir(dir)).sort();
    expect(names).to.deep.equal(['manifest-42.json', 'p0-42.json', 'p1-42.json', 'p2-42.json', 'p3-42.json']);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest-42.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).to.include({ formatVersion: 1, seq: 42, partitionCount: PARTITIONS });
    const partition = JSON.parse(await readFile(path.join(dir, 'p0-42.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(partition).to.include({ seq: 42, partition: 0 });
  });

  it('carries unchanged partitions over by reference and keeps only the newest two manifests', async () => {
    const store = new LowdbSnapshotStore({ dir });
    const first = stockState(40, 1);
    await store.write(snapshotOf(10, first));

    const second = new Map(first);
    const movedStream = [...first.keys()].find((stream) => partitionOf(stream, PARTITIONS) === 1)!;
    second.set(movedStream, { onHand: 999, version: 7 });
    await store.write(snapshotOf(20, second, [1]));
    expect((await readdir(dir)).sort()).to.deep.equal([
      'manifest-10.json',
      'manifest-20.json',
      'p0-10.json',
      'p1-10.json',
      'p1-20.json',
      'p2-10.json',
      'p3-10.json',
    ]);
    expect(await entriesOf((await store.latest())!)).to.deep.equal(second);

    const third = new Map(second);
    const otherStream = [...first.keys()].find((stream) => partitionOf(stream, PARTITIONS) === 2)!;
    third.delete(otherStream);
    await store.write(snapshotOf(30, third, [2]));
    // manifest-10 and p1-10 (referenced only by it) are gone; p0-10 is still carried by 20 and 30.
    expect((await readdir(dir)).sort()).to.deep.equal([
      'manifest-20.json',
      'manifest-30.json',
      'p0-10.json',
      'p1-20.json',
      'p2-10.json',
      'p2-30.json',
      'p3-10.json',
    ]);
    const loaded = await new LowdbSnapshotStore({ dir }).latest();
    expect(loaded?.seq).to.equal(30);
    expect(await entriesOf(loaded!)).to.deep.equal(third);
  });

  it('falls back to the previous manifest when a partition file of the newest is corrupted', async () => {
    const logger = spyLogger();
    const store = new LowdbSnapshotStore({ dir, logger });
    const first = stockState(40, 1);
    await store.write(snapshotOf(10, first));
    const second = stockState(40, 100);
    await store.write(snapshotOf(20, second, [3]));
    await flipBit(path.join(dir, 'p3-20.json'), 77);

    const reopened = new LowdbSnapshotStore({ dir, logger });
    const loaded = await reopened.latest();
    expect(loaded?.seq).to.equal(10);
    expect(await entriesOf(loaded!)).to.deep.equal(first);
    expect(logger.warn.calledOnce).to.equal(true);
    expect(logger.warn.firstCall.args[1]).to.include({ manifest: 'manifest-20.json' });

    // The next snapshot builds on the good one, not on the damaged one.
    await reopened.write(snapshotOf(30, second, [3]));
    const next = await new LowdbSnapshotStore({ dir }).latest();
    expect(next?.seq).to.equal(30);
    const expected = new Map([...first].filter(([stream]) => partitionOf(stream, PARTITIONS) !== 3));
    for (const [stream, value] of second)
      if (partitionOf(stream, PARTITIONS) === 3) expected.set(stream, value);
    expect(await entriesOf(next!)).to.deep.equal(expected);
  });

  it('falls back when the newest manifest is damaged, and refuses when nothing verifies', async () => {
    const logger = spyLogger();
    const store = new LowdbSnapshotStore({ dir, logger });
    await store.write(snapshotOf(10, stockState(5, 1)));
    await store.write(snapshotOf(20, stockState(5, 2)));
    await writeFile(path.join(dir, 'manifest-20.json'), '{"formatVersion":1,"seq":20,"takenAt"');
    expect((await new LowdbSnapshotStore({ dir, logger }).latest())?.seq).to.equal(10);

    await writeFile(path.join(dir, 'p0-10.json'), '');
    // Snapshots existed and none reads: refuse rather than let the engine start from less.
    const refusal = await new LowdbSnapshotStore({ dir, logger }).latest().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).to.be.instanceOf(SnapshotsUnreadableError);
    expect(logger.warn.callCount).to.equal(3);
  });

  it('detects a single flipped bit anywhere in a partition file', async () => {
    const state = stockState(30, 3);
    await fc.assert(
      fc.asyncProperty(fc.nat(), async (bitIndex) => {
        const runDir = await makeTempDir('snapshot-bit');
        try {
          const store = new LowdbSnapshotStore({ dir: runDir, logger: spyLogger() });
          await store.write(snapshotOf(5, state));
          await flipBit(path.join(runDir, 'p2-5.json'), bitIndex);
          const refusal = await new LowdbSnapshotStore({ dir: runDir, logger: spyLogger() }).latest().then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(refusal).to.be.instanceOf(SnapshotsUnreadableError);
        } finally {
          await removeTempDir(runDir);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('re-checks each partition as entries() loads it', async () => {
    const store = new LowdbSnapshotStore({ dir });
    await store.write(snapshotOf(5, stockState(30, 3)));
    const loaded = await store.latest();
    await flipBit(path.join(dir, 'p1-5.json'), 200);
    let caught: unknown;
    try {
      await entriesOf(loaded!);
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(SnapshotIntegrityError);
  });

  it('keeps the previous snapshot when a write fails before its manifest lands, and cleans up after', async () => {
    const fileOps = new FaultyFileOps();
    const store = new LowdbSnapshotStore({ dir, fileOps, logger: spyLogger() });
    const first = stockState(20, 1);
    await store.write(snapshotOf(10, first));
    fileOps.failNext('rename'); // the first rename of the next write: partition 0's file
    let caught: unknown;
    await store.write(snapshotOf(20, stockState(20, 50))).catch((error: unknown) => (caught = error));
    expect(caught).to.have.property('code', 'EIO');
    expect((await readdir(dir)).some((name) => name.endsWith('.tmp'))).to.equal(true);

    const loaded = await new LowdbSnapshotStore({ dir }).latest();
    expect(loaded?.seq).to.equal(10);
    expect(await entriesOf(loaded!)).to.deep.equal(first);

    await store.write(snapshotOf(30, stockState(20, 60)));
    expect(
      (await readdir(dir)).some((name) => name.endsWith('.tmp')),
      'stale temp files removed',
    ).to.equal(false);
    expect((await new LowdbSnapshotStore({ dir }).latest())?.seq).to.equal(30);
  });

  it('refuses a snapshot older than the latest and ignores one at the same seq', async () => {
    const store = new LowdbSnapshotStore({ dir });
    await store.write(snapshotOf(10, stockState(3, 1)));
    let caught: unknown;
    await store.write(snapshotOf(9, stockState(3, 2))).catch((error: unknown) => (caught = error));
    expect(caught).to.be.instanceOf(RangeError);
    await store.write(snapshotOf(10, stockState(3, 2)));
    expect(await entriesOf((await store.latest())!)).to.deep.equal(stockState(3, 1));
  });

  it('DurableJsonFile fsyncs the file and its folder around an atomic rename', async () => {
    const fileOps = new FaultyFileOps();
    const file = new DurableJsonFile<{ a: number }>(path.join(dir, 'doc.json'), { fileOps });
    await file.write({ a: 1 });
    expect(fileOps.calls).to.include({ fsync: 2, rename: 1 });
    expect(await readdir(dir)).to.deep.equal(['doc.json']);
    expect(await file.read()).to.deep.equal({ a: 1 });
    expect(file.lastWrite).to.deep.equal({ bytes: 7, crc: crc32('{"a":1}').toString(16).padStart(8, '0') });
  });
});

describe('partitionJson (a partition serialised in slices)', () => {
  it('parses to what JSON.stringify of the partition document gives (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.nat(63),
        fc.array(fc.tuple(fc.string(), fc.oneof(fc.jsonValue(), fc.constant(undefined))), { maxLength: 30 }),
        async (seq, partition, pairs) => {
          const entries = new Map(pairs);
          const text = await partitionJson({ seq, partition, entries });
          const expected = JSON.stringify({ seq, partition, entries: Object.fromEntries(entries) });
          expect(JSON.parse(text)).to.deep.equal(JSON.parse(expected));
        },
      ),
    );
  });

  it('gives the event loop back while it serialises a large partition', async () => {
    const entries = new Map<string, unknown>();
    for (let i = 0; i < 200_000; i++) {
      entries.set(`stock/SKU-${i}/S1`, {
        onHand: i,
        reserved: 0,
        holds: [],
        updatedAt: '2026-11-30T00:00:00.000Z',
      });
    }
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      const text = await partitionJson({ seq: 7, partition: 3, entries });
      expect((JSON.parse(text) as { entries: Record<string, unknown> }).entries).to.have.property(
        'stock/SKU-199999/S1',
      );
    } finally {
      clearInterval(ticker);
    }
    // Timers ran while it worked: the serialisation was not one synchronous block.
    expect(turns).to.be.greaterThan(1);
  });
});
