// The shared contracts against the PostgreSQL adapters, then what only PostgreSQL has: fencing between
// two nodes by the unique (stream, version) key, gap-free seqs seen by a reader while two nodes append,
// a connection killed mid-batch, concurrent migrations, NOTIFY fan-out, and snapshot transactions.
// Needs DATABASE_URL (CI: postgres://postgres@127.0.0.1:5432/postgres); every test works in a schema of
// its own (test_<random>) and drops it afterwards.
import { expect } from 'chai';
import type pg from 'pg';
import { isInventoryError } from '../../engine/errors.js';
import type { JournalRecord } from '../../storage/journal.js';
import { PgJournal, subscribeToJournal, type PgJournalOptions } from '../../storage/pg-journal.js';
import { MIGRATIONS, migrate } from '../../storage/pg-schema.js';
import { PgSnapshotStore } from '../../storage/pg-snapshots.js';
import { partitionOf } from '../../storage/snapshot.js';
import { spyLogger } from '../support/journal-helpers.js';
import { appendInGroups, entry, expectCode, journalContract, readAll, track } from './journal-contract.js';
import { DATABASE_URL, dropSchema, freshName, namedPool, waitFor } from './pg-support.js';
import { snapshotContract } from './snapshot-contract.js';

const SKIP_MESSAGE = 'DATABASE_URL not set: PostgreSQL contract tests skipped';

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (DATABASE_URL === undefined || DATABASE_URL === '') {
  describe('PostgreSQL journal and snapshot store', () => {
    it(SKIP_MESSAGE, function () {
      console.warn(`\n  ${SKIP_MESSAGE}\n`);
      this.skip();
    });
  });
} else {
  const url = DATABASE_URL;

  describe('PostgreSQL journal and snapshot store', () => {
    /** Shared by the contract fixtures and for inspecting tables; nodes in the tests below get their own. */
    let pool: pg.Pool;

    before(() => {
      pool = namedPool(url, 'contract-shared');
    });
    after(async () => {
      await pool.end();
    });

    journalContract('PgJournal', async () => {
      const schema = freshName('test');
      // A small page, so that reads in the contract cross page boundaries.
      const make = () => new PgJournal({ pool, schema, pageSize: 97, logger: spyLogger() });
      let current = make();
      await current.open();
      return {
        journal: current,
        async reopen() {
          await current.close();
          current = make();
          await current.open();
          return current;
        },
        async cleanup() {
          await current.close();
          await dropSchema(pool, schema);
        },
      };
    });

    snapshotContract('PgSnapshotStore', async () => {
      const schema = freshName('test');
      const make = () => new PgSnapshotStore({ pool, schema, logger: spyLogger() });
      return {
        store: make(),
        reopen: () => Promise.resolve(make()),
        cleanup: () => dropSchema(pool, schema),
      };
    });

    describe('PgJournal on PostgreSQL', () => {
      let schema: string;
      let cleanups: (() => Promise<void>)[];

      beforeEach(() => {
        schema = freshName('test');
        cleanups = [];
      });
      afterEach(async () => {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
        await dropSchema(pool, schema);
      });

      /** A "node": a journal on the test's schema with a connection pool of its own. */
      const node = async (name: string, options: Partial<PgJournalOptions> = {}) => {
        const nodePool = namedPool(url, name);
        const journal = new PgJournal({ pool: nodePool, schema, logger: spyLogger(), ...options });
        cleanups.push(async () => {
          await journal.close();
          await nodePool.end();
        });
        await journal.open();
        return journal;
      };

      /** Holds the journal_head row lock on a connection of its own: every append batch waits behind it. */
      const holdHeadLock = async () => {
        const client = await pool.connect();
        await client.query('BEGIN');
        await client.query(`SELECT last_seq FROM ${schema}.journal_head WHERE id FOR UPDATE`);
        let released = false;
        const release = async () => {
          if (released) return;
          released = true;
          await client.query('ROLLBACK');
          client.release();
        };
        cleanups.push(release);
        return release;
      };

      const backendWaitingOnLock = (applicationName: string) =>
        waitFor('a batch waiting on the head lock', async () => {
          const { rows } = await pool.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName],
          );
          return rows[0]?.pid;
        });

      const rowCount = async (table: string): Promise<number> => {
        const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${table}`);
        return Number(rows[0]?.n);
      };

      describe('fencing by (stream, version)', () => {
        it('a stale node gets APPEND_CONFLICT for that append only; the rest of its batch commits', async () => {
          const nodeA = await node(freshName('node_a'));
          const nodeB = await node(freshName('node_b'));
          const stream = 'stock/SKU-1/STORE-1';
          const won = await nodeA.append({
            stream,
            version: 1,
            events: [{ type: 'StockReceived', by: 'A' } as { type: string }],
          });

          const flushesBefore = nodeB.stats.flushes;
          const [t, s, u] = await Promise.allSettled([
            nodeB.append({ stream: 'stock/SKU-2/STORE-1', version: 1, events: [{ type: 'StockReceived' }] }),
            nodeB.append({
              stream,
              version: 1,
              events: [{ type: 'StockReceived', by: 'B' } as { type: string }],
            }),
            nodeB.append({ stream: 'stock/SKU-3/STORE-1', version: 1, events: [{ type: 'StockReceived' }] }),
          ]);
          expect(nodeB.stats.flushes - flushesBefore, 'one batch').to.equal(1);
          expect(nodeB.stats.lastBatchSize).to.equal(3);
          expect(s?.status).to.equal('rejected');
          const conflict = s?.status === 'rejected' ? (s.reason as unknown) : undefined;
          expect(isInventoryError(conflict) && conflict.code).to.equal('APPEND_CONFLICT');
          expect(isInventoryError(conflict) && conflict.details).to.deep.equal({ stream, version: 1 });
          expect(t?.status === 'fulfilled' && t.value.seq).to.equal(2);
          expect(u?.status === 'fulfilled' && u.value.seq).to.equal(3);
          expect(nodeB.health).to.equal('open');
          expect(nodeB.stats.conflicts).to.equal(1);
          expect(nodeB.lastSeq).to.equal(3);

          // The loser reloads the stream, finds the winner's record, and carries on from its version.
          const reloaded: JournalRecord[] = [];
          for await (const record of nodeB.readStream(stream)) reloaded.push(record);
          expect(reloaded).to.deep.equal([won]);
          const retried = await nodeB.append({ stream, version: 2, events: [{ type: 'StockReceived' }] });
          expect(retried.seq).to.equal(4);
          expect((await readAll(nodeA)).map((record) => record.seq)).to.deep.equal([1, 2, 3, 4]);
        });

        it('a claim is taken once across nodes: the second record claiming it fails alone', async () => {
          const nodeA = await node(freshName('node_a'));
          const nodeB = await node(freshName('node_b'));
          const claim = 'store/STORE-1/7';
          await nodeA.append({
            stream: 'stock/SKU-1/STORE-1',
            version: 1,
            events: [{ type: 'StockSold' }],
            claims: [claim],
          });
          const [other, duplicate] = await Promise.allSettled([
            nodeB.append({ stream: 'stock/SKU-9/STORE-1', version: 1, events: [{ type: 'StockSold' }] }),
            nodeB.append({
              stream: 'stock/SKU-2/STORE-1',
              version: 1,
              events: [{ type: 'StockSold' }],
              claims: [claim],
            }),
          ]);
          expect(other.status).to.equal('fulfilled');
          expect(duplicate.status).to.equal('rejected');
          const reason = duplicate.status === 'rejected' ? (duplicate.reason as unknown) : undefined;
          expect(isInventoryError(reason) && reason.code).to.equal('APPEND_CONFLICT');
          // Within one batch too: the first entry claiming a name wins.
          const [first, second] = await Promise.allSettled([
            nodeA.append({
              stream: 'stock/SKU-3/STORE-1',
              version: 1,
              events: [{ type: 'StockSold' }],
              claims: ['idempotency/k'],
            }),
            nodeA.append({
              stream: 'stock/SKU-4/STORE-1',
              version: 1,
              events: [{ type: 'StockSold' }],
              claims: ['idempotency/k'],
            }),
          ]);
          expect([first.status, second.status]).to.deep.equal(['fulfilled', 'rejected']);
          expect((await readAll(nodeA)).map((record) => record.stream)).to.deep.equal([
            'stock/SKU-1/STORE-1',
            'stock/SKU-9/STORE-1',
            'stock/SKU-3/STORE-1',
          ]);
          expect(await nodeB.headSeq()).to.equal(3);
        });

        it('two nodes racing for the same (stream, version) 300 times: exactly one wins each, seqs gap-free', async () => {
          const nodes = [await node(freshName('node_a')), await node(freshName('node_b'))] as const;
          const streams = Array.from({ length: 300 }, (_, i) => `stock/SKU-${i}/STORE-1`);
          const outcomes: Promise<PromiseSettledResult<JournalRecord>[]>[] = [];
          // Ten rounds of thirty streams; who asks first alternates, so batches of both nodes interleave.
          for (let round = 0; round < 10; round++) {
            for (const [i, stream] of streams.slice(round * 30, round * 30 + 30).entries()) {
              const attempts: Promise<JournalRecord>[] = [];
              for (const n of (i + round) % 2 === 0 ? [0, 1] : [1, 0]) {
                attempts[n] = nodes[n as 0 | 1].append({
                  stream,
                  version: 1,
                  events: [{ type: 'StockReceived', node: n } as { type: string }],
                });
              }
              // Indexed by node: pair[n] is node n's outcome.
              outcomes.push(Promise.allSettled(attempts));
            }
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          const settled = await Promise.all(outcomes);
          const winners = new Map<string, number>();
          for (const [i, pair] of settled.entries()) {
            const won = pair.filter((result) => result.status === 'fulfilled');
            const lost = pair.filter((result) => result.status === 'rejected');
            expect(won.length, `winners for ${streams[i]}`).to.equal(1);
            expect(lost.length).to.equal(1);
            const reason: unknown = lost[0]?.status === 'rejected' ? lost[0].reason : undefined;
            expect(isInventoryError(reason) && reason.code).to.equal('APPEND_CONFLICT');
            expect(isInventoryError(reason) && reason.details).to.deep.equal({
              stream: streams[i],
              version: 1,
            });
            winners.set(
              streams[i] ?? '',
              pair.findIndex((result) => result.status === 'fulfilled'),
            );
          }
          const acknowledged = settled.flatMap((pair) =>
            pair.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
          );
          expect(acknowledged.map((record) => record.seq).sort((a, b) => a - b)).to.deep.equal(range(1, 300));
          expect(nodes[0].stats.conflicts + nodes[1].stats.conflicts).to.equal(300);

          const stored = await readAll(nodes[0]);
          expect(stored.map((record) => record.seq)).to.deep.equal(range(1, 300));
          for (const record of stored) {
            const by = (record.events[0] as { node?: number } | undefined)?.node;
            expect(by, `the stored record of ${record.stream} is the winner's`).to.equal(
              winners.get(record.stream),
            );
          }
        });

        it('in one batch, a second append of the same (stream, version) loses to the first', async () => {
          const journal = await node(freshName('node_a'));
          const stream = 'reservation/r-1';
          const [first, second, other] = await Promise.allSettled([
            journal.append({
              stream,
              version: 1,
              events: [{ type: 'ReservationPlaced', n: 1 } as { type: string }],
            }),
            journal.append({
              stream,
              version: 1,
              events: [{ type: 'ReservationPlaced', n: 2 } as { type: string }],
            }),
            journal.append({ stream, version: 2, events: [{ type: 'ReservationConfirmed' }] }),
          ]);
          expect(journal.stats.flushes).to.equal(1);
          expect(first?.status === 'fulfilled' && first.value.seq).to.equal(1);
          expect(
            second?.status === 'rejected' && isInventoryError(second.reason) && second.reason.code,
          ).to.equal('APPEND_CONFLICT');
          expect(other?.status === 'fulfilled' && other.value.seq).to.equal(2);
          const stored = await readAll(journal);
          expect(stored.map((record) => record.events[0])).to.deep.equal([
            { type: 'ReservationPlaced', n: 1 },
            { type: 'ReservationConfirmed' },
          ]);
        });
      });

      it('two nodes appending at once: seqs gap-free, and a reader on a third never sees a hole', async () => {
        const perNode = 3000;
        const nodes = [await node(freshName('node_a')), await node(freshName('node_b'))];
        const reader = await node(freshName('reader'));
        const acknowledged: JournalRecord[] = [];
        const producers = Promise.all(
          nodes.map(async (journal, n) => {
            let issued = 0;
            await Promise.all(
              Array.from({ length: 32 }, async () => {
                while (issued < perNode) {
                  const i = ++issued;
                  acknowledged.push(
                    await journal.append({
                      stream: `stock/SKU-${n}-${i}/STORE-1`,
                      version: 1,
                      events: [{ type: 'StockReceived' }],
                    }),
                  );
                }
              }),
            );
          }),
        );
        let failure: unknown;
        producers.catch((error: unknown) => (failure = error));

        const seen: JournalRecord[] = [];
        let polls = 0;
        while (seen.length < 2 * perNode && failure === undefined) {
          polls++;
          for await (const record of reader.read(seen.length + 1)) {
            expect(record.seq, 'the reader skipped a seq').to.equal(seen.length + 1);
            seen.push(record);
          }
        }
        await producers;
        expect(acknowledged.map((record) => record.seq).sort((a, b) => a - b)).to.deep.equal(
          range(1, 2 * perNode),
        );
        acknowledged.sort((a, b) => a.seq - b.seq);
        expect(seen).to.deep.equal(acknowledged);
        // Both nodes batched, and the reader really read while they wrote.
        for (const journal of nodes) expect(journal.stats.flushes).to.be.lessThan(perNode);
        expect(polls).to.be.greaterThan(1);
      });

      it('a connection killed mid-batch fails that batch with STORAGE_UNAVAILABLE; none of it is visible', async () => {
        const name = freshName('victim');
        const journal = await node(name);
        await appendInGroups(journal, 1, 5, 5);
        const release = await holdHeadLock();

        const inFlight = Array.from({ length: 20 }, (_, i) => track(journal.append(entry(100 + i))));
        const pid = await backendWaitingOnLock(name);
        const queued = Array.from({ length: 10 }, (_, i) => track(journal.append(entry(200 + i))));
        await pool.query('SELECT pg_terminate_backend($1)', [pid]);

        await waitFor('the batch to fail', async () =>
          [...inFlight, ...queued].every((state) => state.settled) ? true : undefined,
        );
        for (const state of [...inFlight, ...queued]) {
          expect(isInventoryError(state.error) && state.error.code, String(state.error)).to.equal(
            'STORAGE_UNAVAILABLE',
          );
        }
        expect(journal.health).to.equal('failed');
        expect(journal.stats.failedFlushes).to.equal(1);
        await expectCode(journal.append(entry(300)), 'STORAGE_UNAVAILABLE');

        await release();
        expect(await rowCount('journal')).to.equal(5);
        const head = await pool.query<{ last_seq: string }>(`SELECT last_seq FROM ${schema}.journal_head`);
        expect(Number(head.rows[0]?.last_seq)).to.equal(5);

        await journal.recover();
        expect(journal.health).to.equal('open');
        expect(journal.lastSeq).to.equal(5);
        expect((await journal.append(entry(400))).seq).to.equal(6);
        expect((await readAll(journal)).map((record) => record.seq)).to.deep.equal(range(1, 6));
      });

      it('queues appends while a batch is in flight and sends them as the next batches, maxBatch at a time', async () => {
        const name = freshName('batcher');
        const journal = await node(name, { maxBatch: 200 });
        const release = await holdHeadLock();
        const first = Array.from({ length: 10 }, (_, i) => journal.append(entry(i + 1)));
        await backendWaitingOnLock(name);
        const later = Array.from({ length: 500 }, (_, i) => track(journal.append(entry(11 + i))));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(
          later.some((state) => state.settled),
          'acknowledged before its batch committed',
        ).to.equal(false);
        expect(journal.stats.flushes).to.equal(0);

        await release();
        const records = [...(await Promise.all(first))];
        await waitFor('the queued appends', async () =>
          later.every((state) => state.settled) ? true : undefined,
        );
        for (const state of later) if (state.value) records.push(state.value);
        expect(records.map((record) => record.seq)).to.deep.equal(range(1, 510));
        // 10 in flight, then the 500 queued behind them as 200 + 200 + 100.
        expect(journal.stats.flushes).to.equal(4);
        expect(journal.stats.lastBatchSize).to.equal(100);
        expect(journal.stats.statements).to.equal(4);
      });

      it('refuses, alone, an entry that jsonb or the version column cannot hold', async () => {
        const journal = await node(freshName('node_a'));
        const results = await Promise.allSettled([
          journal.append(entry(1)),
          journal.append({
            stream: 'stock/NUL/S',
            version: 1,
            events: [{ type: 'X', note: 'a\u0000b' } as { type: string }],
          }),
          journal.append({
            stream: 'stock/SUR/S',
            version: 1,
            events: [{ type: 'X' }],
            meta: { ['\uD800']: 1 },
          }),
          journal.append({ stream: 'stock/BIG/S', version: 2 ** 31, events: [{ type: 'X' }] }),
          journal.append({
            stream: 'stock/OK/S',
            version: 1,
            events: [{ type: 'X', fine: '\uD83D\uDE00 \\u0000' } as { type: string }],
          }),
        ]);
        expect(results.map((result) => result.status)).to.deep.equal([
          'fulfilled',
          'rejected',
          'rejected',
          'rejected',
          'fulfilled',
        ]);
        for (const result of results)
          if (result.status === 'rejected') expect(result.reason).to.be.instanceOf(TypeError);
        expect(journal.health).to.equal('open');
        const stored = await readAll(journal);
        expect(stored.map((record) => record.seq)).to.deep.equal([1, 2]);
        expect(stored[1]?.events[0]).to.deep.equal({ type: 'X', fine: '\uD83D\uDE00 \\u0000' });
      });

      it('checks conflicts with index probes even after its plan was cached on an empty journal', async function () {
        const journal = await node(freshName('node_a'));
        const client = await pool.connect();
        cleanups.push(async () => client.release());
        try {
          await client.query("LOAD 'auto_explain'");
        } catch (error) {
          console.warn(`  auto_explain is not available (${String(error)}): plan check skipped`);
          this.skip();
        }
        await client.query(
          'SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; ' +
            'SET client_min_messages = log',
        );
        const plans: string[] = [];
        client.on('notice', (notice) => plans.push(notice.message ?? ''));
        const call = (entries: { stream: string; version: number }[]) =>
          client.query(
            `SELECT o_head, o_conflicts FROM ${schema}.journal_append($1::text[], $2::int[], $3::timestamptz[], $4::jsonb[], $5::jsonb[], 'unused')`,
            [
              entries.map((e) => e.stream),
              entries.map((e) => e.version),
              entries.map(() => new Date().toISOString()),
              entries.map(() => '[{"type":"X"}]'),
              entries.map(() => null),
            ],
          );
        // Plans made and cached in this session while the journal holds almost nothing...
        for (let i = 1; i <= 8; i++) await call([{ stream: `s-${i}`, version: 1 }]);
        // ...then the journal grows, and a batch with one conflict goes through the same session.
        await call(Array.from({ length: 20_000 }, (_, i) => ({ stream: `bulk-${i}`, version: 1 })));
        plans.length = 0;
        const result = await call([
          { stream: 'bulk-7', version: 1 },
          { stream: 'fresh', version: 1 },
        ]);
        expect(result.rows[0]?.o_conflicts).to.deep.equal([1]);
        const check = plans.find((plan) => plan.includes('array_agg(c.ord'));
        expect(check, 'the conflict check plan').to.be.a('string');
        expect(check).to.include('Index Scan using journal_stream_version');
        expect(check).not.to.match(/Seq Scan on journal\b/);
        expect(journal.health).to.equal('open');
      });

      it('applies each migration once when several nodes start on a fresh schema at the same moment', async () => {
        const results = await Promise.all(Array.from({ length: 4 }, () => migrate(pool, schema)));
        const versions = MIGRATIONS.map((migration) => migration.version);
        expect(results.map((result) => result.applied.length).sort()).to.deep.equal([
          0,
          0,
          0,
          versions.length,
        ]);
        const { rows } = await pool.query<{ version: number }>(
          `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
        );
        expect(rows.map((row) => row.version)).to.deep.equal(versions);

        // Whole nodes too, journals and a snapshot store, on another fresh schema.
        const other = freshName('test');
        cleanups.push(() => dropSchema(pool, other));
        const journals = Array.from(
          { length: 3 },
          () => new PgJournal({ pool, schema: other, logger: spyLogger() }),
        );
        const snapshots = new PgSnapshotStore({ pool, schema: other });
        await Promise.all([...journals.map((journal) => journal.open()), snapshots.latest()]);
        const appended = await Promise.all(journals.map((journal, i) => journal.append(entry(i + 1))));
        expect(appended.map((record) => record.seq).sort()).to.deep.equal([1, 2, 3]);
        for (const journal of journals) await journal.close();
        const again = await migrate(pool, other);
        expect(again.applied).to.deep.equal([]);
        expect((await pool.query(`SELECT version FROM ${other}.schema_migrations`)).rowCount).to.equal(
          versions.length,
        );
      });

      it('subscribeToJournal hears the new last seq after each committed batch, and nothing from a refused one', async () => {
        const channel = freshName('ch');
        const nodeA = await node(freshName('node_a'), { channel });
        const nodeB = await node(freshName('node_b'), { channel });
        const heard: number[] = [];
        const subscription = await subscribeToJournal(url, (seq) => heard.push(seq), { channel });
        cleanups.push(() => subscription.close());

        await Promise.all([1, 2, 3].map((n) => nodeA.append(entry(n))));
        await waitFor('the first notification', async () => (heard.length > 0 ? true : undefined));
        expect(heard).to.deep.equal([3]);
        await expectCode(nodeB.append(entry(2)), 'APPEND_CONFLICT');
        await nodeB.append(entry(4));
        await waitFor('the second notification', async () => (heard.length > 1 ? true : undefined));
        expect(heard).to.deep.equal([3, 4]);
        expect((await readAll(nodeB, heard[0])).map((record) => record.seq)).to.deep.equal([3, 4]);
      });

      it("compact() with retention 'archive' moves old records to journal_archive", async () => {
        const journal = await node(freshName('node_a'), { retention: 'archive' });
        const all = await appendInGroups(journal, 1, 30, 10);
        expect(await journal.compact(12)).to.deep.equal({ removedSegments: 12, removedRecords: 12 });
        expect(await readAll(journal)).to.deep.equal(all.slice(12));
        expect(await rowCount('journal_archive')).to.equal(12);
        const { rows } = await pool.query<{ seq: string }>(
          `SELECT seq FROM ${schema}.journal_archive ORDER BY seq`,
        );
        expect(rows.map((row) => Number(row.seq))).to.deep.equal(range(1, 12));
      });

      it('ends the pool it made from a connectionString on close(), and leaves a given pool open', async () => {
        const name = freshName('owned');
        const owned = new PgJournal({ connectionString: `${url}?application_name=${name}`, schema });
        cleanups.push(() => owned.close());
        await owned.open();
        await owned.append(entry(1));
        const backends = async () => {
          const { rows } = await pool.query<{ n: string }>(
            'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
            [name],
          );
          return Number(rows[0]?.n);
        };
        expect(await backends()).to.be.greaterThan(0);
        await owned.close();
        await waitFor('its connections to end', async () => ((await backends()) === 0 ? true : undefined));
        await owned.open();
        expect(owned.lastSeq).to.equal(1);
        await owned.close();

        const given = new PgJournal({ pool, schema });
        await given.open();
        await given.close();
        expect((await pool.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
      });

      it('open() against an unreachable database rejects with STORAGE_UNAVAILABLE and stays closed', async () => {
        const journal = new PgJournal({
          connectionString: 'postgres://postgres@127.0.0.1:1/postgres',
          schema,
        });
        await expectCode(journal.open(), 'STORAGE_UNAVAILABLE');
        expect(journal.health).to.equal('closed');
      });
    });

    describe('PgSnapshotStore on PostgreSQL', () => {
      let schema: string;
      let store: PgSnapshotStore;

      beforeEach(() => {
        schema = freshName('test');
        store = new PgSnapshotStore({ pool, schema, logger: spyLogger() });
      });
      afterEach(async () => {
        await store.close();
        await dropSchema(pool, schema);
      });

      const state = (count: number, value: number) =>
        new Map<string, unknown>(
          Array.from({ length: count }, (_, i) => [`stock/SKU-${i}/S`, { onHand: value + i }]),
        );
      const changedOf = (entries: Map<string, unknown>, only: readonly number[]) => {
        const changed = new Map<number, Map<string, unknown>>(only.map((index) => [index, new Map()]));
        for (const [stream, value] of entries) changed.get(partitionOf(stream, 4))?.set(stream, value);
        return changed;
      };
      const write = (seq: number, entries: Map<string, unknown>, only: readonly number[]) =>
        store.write({ seq, takenAt: `t${seq}`, partitionCount: 4, changed: changedOf(entries, only) });
      const rows = async () => {
        const manifests = await pool.query<{ seq: string }>(
          `SELECT seq FROM ${schema}.snapshot_manifests ORDER BY seq`,
        );
        const partitions = await pool.query<{ idx: number; seq: string }>(
          `SELECT idx, seq FROM ${schema}.snapshot_partitions ORDER BY idx, seq`,
        );
        return {
          manifests: manifests.rows.map((row) => Number(row.seq)),
          partitions: partitions.rows.map((row) => `${row.idx}@${row.seq}`),
        };
      };

      it('writes rows only for changed partitions and collects what no kept manifest references', async () => {
        await write(10, state(40, 1), [0, 1, 2, 3]);
        await write(20, state(40, 2), [1]);
        await write(30, state(40, 3), [1, 2]);
        // Two manifests kept (20 and 30); partition 1 of seq 10 is referenced by neither.
        expect(await rows()).to.deep.equal({
          manifests: [20, 30],
          partitions: ['0@10', '1@20', '1@30', '2@10', '2@30', '3@10'],
        });
      });

      it('a write that fails half-way leaves the previous snapshot in charge and nothing of its own', async () => {
        await write(10, state(40, 1), [0, 1, 2, 3]);
        const poisoned = state(40, 2);
        const victim = [...poisoned.keys()].find((stream) => partitionOf(stream, 4) === 3) ?? '';
        poisoned.set(victim, { note: 'NUL \u0000 is not storable in jsonb' });
        let error: unknown;
        await write(20, poisoned, [0, 3]).catch((caught: unknown) => (error = caught));
        expect(error).to.be.instanceOf(Error);
        expect(error).not.to.be.instanceOf(RangeError);
        expect(await rows()).to.deep.equal({ manifests: [10], partitions: ['0@10', '1@10', '2@10', '3@10'] });
        expect((await store.latest())?.seq).to.equal(10);

        await write(20, state(40, 2), [0, 3]);
        expect((await store.latest())?.seq).to.equal(20);
      });

      it('falls back to an older snapshot when a partition row of the newest is missing', async () => {
        await write(10, state(40, 1), [0, 1, 2, 3]);
        await write(20, state(40, 2), [2]);
        await pool.query(`DELETE FROM ${schema}.snapshot_partitions WHERE idx = 2 AND seq = 20`);
        const latest = await store.latest();
        expect(latest?.seq).to.equal(10);
      });
    });
  });
}
