// Promise (schema evolution): the golden journal and snapshot committed under tests/fixtures/golden/,
// written once by the engine of the day (tests/fixtures/make-golden.ts), replay to the recorded state
// forever after: from scratch, from the snapshot plus the journal tail, and through a real engine start.
// A format change must add an upcaster that still reads them; regenerating the fixture to make this test
// pass is what the checksum list forbids.
//
// Guards against: a renamed event type or field that silently drops history; a snapshot format change
// that loads old snapshots partially; a replay that re-evaluates decisions (expiries) against today's clock.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { ManualClock } from '../../engine/clock.js';
import { Engine, reservationView } from '../../engine/engine.js';
import { levelView } from '../../engine/feed.js';
import type { ReservationState } from '../../engine/domain/reservation.js';
import type { StockState } from '../../engine/domain/stock.js';
import { Projection } from '../../engine/projection.js';
import { parseStream } from '../../engine/streams.js';
import { FileJournal } from '../../storage/file-journal.js';
import type { StorageLogger } from '../../storage/logger.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';
import { GOLDEN_DIR, checksums, fixtureCopy, stateOf } from '../fixtures/make-golden.js';
import { removeTemp } from '../support/store-agent-processes.js';
import { readJournalRecords, runReplayCli } from './harness/observe.js';

const quiet: StorageLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Expected {
  readonly lastSeq: number;
  readonly entries: Record<string, unknown>;
}

describe('reliability: the golden journal and snapshot replay to the recorded state', function () {
  this.timeout(60_000);
  let expected: Expected;
  let dir = '';
  before(async () => {
    expected = JSON.parse(await readFile(path.join(GOLDEN_DIR, 'expected-state.json'), 'utf8')) as Expected;
    dir = await fixtureCopy();
  });
  after(() => removeTemp(dir));

  it('is the fixture that was committed (regenerating it is not how a format change passes)', async () => {
    expect(await checksums(GOLDEN_DIR)).to.equal(await readFile(path.join(GOLDEN_DIR, 'SHA256SUMS'), 'utf8'));
    expect(expected.lastSeq).to.be.greaterThan(40);
  });

  it('replays from scratch to the recorded state', async () => {
    const projection = new Projection();
    for (const record of await readJournalRecords(path.join(dir, 'journal'))) projection.apply(record);
    expect(stateOf(projection)).to.deep.equal({ lastSeq: expected.lastSeq, entries: expected.entries });
  });

  it('replays from the snapshot plus the journal tail to the same state', async () => {
    const snapshot = await new LowdbSnapshotStore({
      dir: path.join(dir, 'snapshots'),
      logger: quiet,
    }).latest();
    expect(snapshot, 'the golden snapshot loads').to.not.equal(null);
    if (!snapshot) return;
    expect(snapshot.seq).to.be.within(1, expected.lastSeq - 1);
    const projection = new Projection(snapshot.partitionCount);
    for await (const [id, value] of snapshot.entries()) projection.load(id, value);
    projection.lastSeq = snapshot.seq;
    let tail = 0;
    for (const record of await readJournalRecords(path.join(dir, 'journal'))) {
      if (record.seq <= snapshot.seq) continue;
      projection.apply(record);
      tail++;
    }
    expect(tail, 'records after the snapshot').to.be.greaterThan(5);
    expect(stateOf(projection)).to.deep.equal({ lastSeq: expected.lastSeq, entries: expected.entries });
  });

  it('starts a real engine on it that serves the recorded state, decisions kept as journaled', async () => {
    const records = await readJournalRecords(path.join(dir, 'journal'));
    const clock = new ManualClock(Date.parse(records.at(-1)?.at ?? '') + 1_000);
    const engine = await Engine.start({
      journal: new FileJournal({ dir: path.join(dir, 'journal'), logger: quiet }),
      snapshots: new LowdbSnapshotStore({ dir: path.join(dir, 'snapshots'), logger: quiet }),
      clock,
      timers: false,
    });
    try {
      expect(engine.lastSeq, 'recovery wrote nothing').to.equal(expected.lastSeq);
      let levels = 0;
      let reservations = 0;
      for (const [id, value] of Object.entries(expected.entries)) {
        const ref = parseStream(id);
        if (ref?.kind === 'stock') {
          levels++;
          expect(engine.level(ref.sku, ref.locationId), id).to.deep.equal(
            levelView(ref.sku, ref.locationId, value as StockState),
          );
        } else if (ref?.kind === 'reservation') {
          const state = value as ReservationState;
          if (state.status === 'abandoned') continue;
          reservations++;
          expect(engine.reservation(ref.id), id).to.deep.equal(reservationView(state));
        } else if (ref?.kind === 'store') {
          expect(engine.lastStoreSeq(ref.id), id).to.equal((value as { lastSeq: number }).lastSeq);
        }
      }
      expect(levels).to.be.greaterThan(5);
      expect(reservations).to.be.greaterThan(3);
    } finally {
      await engine.stop();
    }
  });

  it('keeps decisions as journaled even though every deadline in it is long past', () => {
    const statuses = Object.entries(expected.entries)
      .filter(([id]) => id.startsWith('reservation/'))
      .map(([, value]) => (value as ReservationState).status)
      .sort();
    // Held and at-risk reservations stay so on replay: only the running engine's worker expires holds.
    expect(statuses).to.deep.equal(['abandoned', 'at_risk', 'cancelled', 'confirmed', 'expired', 'held']);
  });

  it('verifies clean with the replay CLI', async () => {
    const copy = await fixtureCopy();
    try {
      const verify = await runReplayCli(['verify', '--data', copy, '--json', '--quiet']);
      expect(verify.code, verify.stderr).to.equal(0);
      expect(verify.json?.['ok']).to.equal(true);
      const rebuild = await runReplayCli(['rebuild', '--data', copy, '--json', '--quiet']);
      expect(rebuild.code, rebuild.stderr).to.equal(0);
      expect((rebuild.json?.['state'] as { lastSeq: number }).lastSeq).to.equal(expected.lastSeq);
    } finally {
      await removeTemp(copy);
    }
  });
});
