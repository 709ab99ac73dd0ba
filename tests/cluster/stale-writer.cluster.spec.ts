// Two nodes that both believe they can write: a stale writer must be refused by the journal's fence and
// must then catch up and decide again, never leave a double effect.
//
// 1. In-process, deterministic: a node whose hot stock actor is stale pipelines two holds; the first is
//    refused (APPEND_CONFLICT), and the second, decided on top of the refused one, must be refused too.
//    If it lands, it sits on top of the other node's record and the level is oversold.
// 2. Real processes: a node paused with SIGSTOP while its ownership session is terminated (its partitions
//    move and its short holds are expired by the others), then SIGCONT: what it writes from its stale
//    actors is refused by the fence, it catches up and retries; every hold is expired and released once,
//    and the final state equals a from-scratch replay of the journal.
import { expect } from 'chai';
import { Engine } from '../../engine/engine.js';
import { levelView } from '../../engine/feed.js';
import { reservationStream } from '../../engine/streams.js';
import type { Journal } from '../../storage/journal.js';
import { PgJournal } from '../../storage/pg-journal.js';
import { partitionOf } from '../../storage/snapshot.js';
import {
  type EngineNode,
  call,
  callWithRetry,
  describeCluster,
  holdsInJournal,
  levelAt,
  namedPool,
  newKey,
  partitionLocks,
  quietLogger,
  replayJournal,
  sameLevelEverywhere,
  seedStock,
  startNodes,
  terminateOwnershipSession,
  waitUntil,
  clusterFixture,
} from './cluster-support.js';

const SHORT_TTL_SECONDS = 4;

/** The journal without watch(): its engine catches up only after a conflict. */
const withoutWatch = (journal: PgJournal): Journal => ({
  open: () => journal.open(),
  append: (entry) => journal.append(entry),
  read: (fromSeq) => journal.read(fromSeq),
  get lastSeq() {
    return journal.lastSeq;
  },
  get health() {
    return journal.health;
  },
  recover: () => journal.recover(),
  compact: (upToSeq) => journal.compact(upToSeq),
  get stats() {
    return journal.stats;
  },
  close: () => journal.close(),
  headSeq: () => journal.headSeq(),
});

describeCluster('cluster: a stale writer is refused by the fence', (url) => {
  let engines: Engine[] = [];
  beforeEach(() => {
    engines = [];
  });
  const cluster = clusterFixture(url, 'cluster-stale', async () => {
    for (const engine of engines) await engine.stop().catch(() => undefined);
  });

  it('refuses the holds a stale actor pipelined after its first refused one (no oversell on top of another node)', async () => {
    // A does not LISTEN: it learns of B's writes only when the fence refuses one of its own.
    const node = async (listens: boolean) => {
      const journal = new PgJournal({ connectionString: url, schema: cluster.schema, logger: quietLogger });
      const engine = await Engine.start({
        journal: listens ? journal : withoutWatch(journal),
        timers: false,
      });
      engines.push(engine);
      return engine;
    };
    const a = await node(false);
    const b = await node(true);
    const line = (quantity: number) => ({
      lines: [{ sku: 'SKU', quantity, locationId: 'S1' }],
      ttlSeconds: 600,
    });
    const journalHead = async () => {
      const pool = namedPool(url, 'cluster-stale-head', 1);
      try {
        const { rows } = await pool.query<{ last_seq: string }>(
          `SELECT last_seq FROM ${cluster.schema}.journal_head`,
        );
        return Number(rows[0]?.last_seq);
      } finally {
        await pool.end();
      }
    };
    await a.putLocation('S1', { name: 'Store', type: 'store' });
    await a.execute('SKU', 'S1', { type: 'receive', quantity: 3 });
    await a.reserve(line(1)); // A's actor for the level is now hot: 3 on hand, 1 reserved
    await waitUntil('B to see it', () => b.level('SKU', 'S1')?.reserved === 1);
    await b.reserve(line(2)); // B takes the other 2: nothing is left
    // A has not written since: two holds through A, decided on its stale actor in one turn each.
    const results = await Promise.allSettled([a.reserve(line(1)), a.reserve(line(1))]);
    const outcomes = results.map((result) =>
      result.status === 'fulfilled' ? 'held' : String((result.reason as { code?: unknown }).code),
    );
    await waitUntil('B to apply everything', async () => {
      const head = await journalHead();
      return b.lastSeq === head && head > 0;
    });
    const level = b.level('SKU', 'S1');
    expect({ outcomes, reserved: level?.reserved, onHand: level?.onHand }).to.deep.equal({
      outcomes: ['STOCK_INSUFFICIENT', 'STOCK_INSUFFICIENT'],
      reserved: 3,
      onHand: 3,
    });
  });

  it('a paused node whose partitions moved is refused when it writes from stale state, catches up, and leaves no double effect', async function () {
    this.timeout(180_000);
    const admin = namedPool(url, 'cluster-stale-admin', 2);
    try {
      const [n1, n2] = (await startNodes(url, cluster.schema, ['n1', 'n2'], cluster.started)) as [
        EngineNode,
        EngineNode,
      ];
      const [n3] = (await startNodes(
        url,
        cluster.schema,
        ['n3'],
        cluster.started,
        {},
        'tests/cluster/stats-node.ts',
      )) as [EngineNode];
      const nodes = [n1, n2, n3];
      await seedStock(n1, 'S1', 'SKU', 20);
      await sameLevelEverywhere(nodes, 'S1', 'SKU');
      await waitUntil(
        'n3 to own partitions',
        async () => ((await partitionLocks(admin, cluster.schema)).get('n3')?.length ?? 0) >= 4,
      );

      const reserveOn = async (node: number, ttlSeconds: number) => {
        const outcome = await callWithRetry(nodes, node, 'POST', '/v1/reservations', {
          body: { lines: [{ sku: 'SKU', quantity: 1, locationId: 'S1' }], ttlSeconds },
          idempotencyKey: newKey(),
        });
        expect(outcome.status, JSON.stringify(outcome.body)).to.equal(201);
        return String(outcome.body['id']);
      };
      // Through n3: short holds (some in its own partitions) and long ones. Its actor for the level is hot.
      const short: string[] = [];
      for (let i = 0; i < 6; i++) short.push(await reserveOn(2, SHORT_TTL_SECONDS));
      const long = [await reserveOn(2, 600), await reserveOn(2, 600)];
      const owned = new Set((await partitionLocks(admin, cluster.schema)).get('n3') ?? []);
      const shortOfN3 = short.filter((id) => owned.has(partitionOf(reservationStream(id), 16)));

      const conflictsOfN3 = async () => {
        const count = n3.output.split('\n').filter((row) => row.startsWith('{"journalStats"')).length;
        n3.signal('SIGUSR2');
        await waitUntil(
          'n3 stats',
          () => n3.output.split('\n').filter((row) => row.startsWith('{"journalStats"')).length > count,
        );
        const stats = n3.lastJson('journalStats')?.['journalStats'] as { conflicts?: unknown } | undefined;
        return Number(stats?.conflicts);
      };
      const conflictsBefore = await conflictsOfN3();

      // n3 freezes; an operator (or a peer's eviction) ends its ownership session: its partitions move.
      n3.pause();
      expect(await terminateOwnershipSession(admin, 'n3')).to.equal(true);
      await waitUntil('n1 and n2 to hold all 16 partitions', async () => {
        const locks = await partitionLocks(admin, cluster.schema);
        return (locks.get('n1')?.length ?? 0) + (locks.get('n2')?.length ?? 0) === 16;
      });
      // Meanwhile the others move the level on and expire n3's short holds.
      const later: string[] = [];
      for (let i = 0; i < 6; i++) later.push(await reserveOn(i % 2, 600));
      await waitUntil(
        "n3's short holds to expire on the others",
        async () => {
          const statuses = await Promise.all(
            short.map(async (id) => (await call(n1, 'GET', `/v1/reservations/${id}`)).body['status']),
          );
          return statuses.every((status) => status === 'expired');
        },
        (SHORT_TTL_SECONDS + 10) * 1000,
        100,
      );
      // Their releases follow the expiries (a release that loses a race is retried by maintenance).
      await waitUntil(
        'the expired holds to be released',
        async () => (await levelAt(n1, 'S1', 'SKU')).reserved === long.length + later.length,
        10_000,
        100,
      );

      // n3 wakes up with stale actors and a stale belief in its partitions, and is written to at once.
      n3.resume();
      const resumed = await Promise.all([0, 1, 2].map(() => reserveOn(2, 600)));
      const conflicts = (await conflictsOfN3()) - conflictsBefore;
      console.log(
        `      n3: ${conflicts} appends refused by the fence after SIGCONT; ${shortOfN3.length} of its short holds were in its partitions`,
      );
      expect(conflicts, 'stale appends refused').to.be.greaterThan(0);

      // No double effect: each short hold expired once and released once; all nodes agree with a replay.
      const level = await sameLevelEverywhere(nodes, 'S1', 'SKU', 15_000);
      const { projection, records } = await replayJournal(url, cluster.schema);
      for (const id of short) {
        const expiries = records.filter(
          (record) =>
            record.stream === reservationStream(id) &&
            record.events.some((event) => event.type === 'ReservationExpired'),
        );
        const releases = records.flatMap((record) =>
          (record.events as readonly { type: string; reservationId?: string }[]).filter(
            (event) => event.type === 'ReservationReleased' && event.reservationId === id,
          ),
        );
        expect({ id, expiries: expiries.length, releases: releases.length }).to.deep.equal({
          id,
          expiries: 1,
          releases: 1,
        });
      }
      const replayed = projection.stock('SKU', 'S1');
      expect(replayed).to.not.equal(undefined);
      if (replayed) {
        const view = levelView('SKU', 'S1', replayed);
        expect(level).to.include({ onHand: view.onHand, reserved: view.reserved, version: view.version });
      }
      expect(level.reserved).to.equal(long.length + later.length + resumed.length);
      const leftovers = [...holdsInJournal(records)].filter(
        ([, hold]) => hold.reservation !== 'ReservationPlaced',
      );
      expect(leftovers).to.deep.equal([]);
      for (const id of [...long, ...later, ...resumed])
        expect(projection.reservation(id)?.status).to.equal('held');

      // n3 reconnects and gets partitions back.
      await waitUntil(
        'n3 to own partitions again',
        async () => ((await partitionLocks(admin, cluster.schema)).get('n3')?.length ?? 0) >= 4,
        10_000,
      );
    } finally {
      await admin.end();
    }
  });
});
