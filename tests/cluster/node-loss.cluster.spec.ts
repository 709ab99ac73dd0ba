// A node SIGKILLed under load: PostgreSQL ends its session, its partitions move to the survivors (the
// time is measured), the holds it created stay and still expire on time (now on the survivors' timers),
// nothing it acknowledged is lost, and a client whose request died with it retries on another node with
// the same Idempotency-Key and gets the first answer, never a second reservation.
import { expect } from 'chai';
import { levelView } from '../../engine/feed.js';
import { reservationStream } from '../../engine/streams.js';
import { partitionOf } from '../../storage/snapshot.js';
import {
  type EngineNode,
  type Outcome,
  call,
  callWithRetry,
  delay,
  describeCluster,
  holdsInJournal,
  namedPool,
  newKey,
  partitionLocks,
  replayJournal,
  sameLevelEverywhere,
  seedStock,
  startNodes,
  waitUntil,
  clusterFixture,
} from './cluster-support.js';

const SHORT_TTL_SECONDS = 8;
/** Holds made under load expire too, so that at the end only the long holds remain. */
const LOAD_TTL_SECONDS = 15;
const CLIENTS_PER_NODE = 4;

interface Sent {
  readonly key: string;
  readonly body: { lines: { sku: string; quantity: number; locationId: string }[]; ttlSeconds: number };
  readonly outcome: Outcome;
}

describeCluster('cluster: a node killed under load', (url) => {
  const cluster = clusterFixture(url, 'cluster-node-loss');
  const pool = () => namedPool(url, 'cluster-node-loss', 2);

  it('moves its partitions, keeps and expires its holds, loses no acknowledged write, answers retries from another node', async function () {
    this.timeout(180_000);
    const admin = pool();
    try {
      const nodes = await startNodes(url, cluster.schema, ['n1', 'n2', 'n3'], cluster.started);
      const [n1, n2, n3] = nodes as [EngineNode, EngineNode, EngineNode];
      await seedStock(n1, 'S1', 'SKU', 100_000);
      await sameLevelEverywhere(nodes, 'S1', 'SKU');
      const spread = await waitUntil('the partitions to spread over three nodes', async () => {
        const locks = await partitionLocks(admin, cluster.schema);
        const counts = ['n1', 'n2', 'n3'].map((id) => locks.get(id)?.length ?? 0);
        return counts.every((count) => count >= 4 && count <= 6) && counts.reduce((a, b) => a + b) === 16
          ? locks
          : undefined;
      });
      const victimPartitions = new Set(spread.get('n3') ?? []);

      const sent: Sent[] = [];
      const reserve = async (first: number, ttlSeconds: number) => {
        const body = { lines: [{ sku: 'SKU', quantity: 1, locationId: 'S1' }], ttlSeconds };
        const key = newKey();
        const outcome = await callWithRetry(nodes, first, 'POST', '/v1/reservations', {
          body,
          idempotencyKey: key,
        });
        const entry = { key, body, outcome };
        sent.push(entry);
        return entry;
      };

      // Before the loss: long holds through every node, and short holds through the victim.
      const long = await Promise.all(Array.from({ length: 30 }, (_, i) => reserve(i % 3, 600)));
      const short = await Promise.all(Array.from({ length: 30 }, () => reserve(2, SHORT_TTL_SECONDS)));
      for (const entry of [...long, ...short])
        expect(entry.outcome.status, JSON.stringify(entry)).to.equal(201);
      const shortIds = short.map((entry) => String(entry.outcome.body['id']));
      const shortOfVictim = shortIds.filter((id) =>
        victimPartitions.has(partitionOf(reservationStream(id), 16)),
      );
      expect(shortOfVictim.length, 'short holds in the partitions of the node to kill').to.be.greaterThan(0);

      // Load through all three nodes, then SIGKILL n3 in the middle of it.
      let loading = true;
      const clients = Array.from({ length: 3 * CLIENTS_PER_NODE }, async (_, client) => {
        for (let i = 0; i < 10_000 && loading; i++) await reserve(client % 3, LOAD_TTL_SECONDS);
      });
      await delay(700);
      const killedAt = Date.now();
      await n3.kill();
      const movedMs = await waitUntil(
        'the survivors to hold all 16 partitions',
        async () => {
          const locks = await partitionLocks(admin, cluster.schema);
          const held = (locks.get('n1')?.length ?? 0) + (locks.get('n2')?.length ?? 0);
          return held === 16 && !locks.has('n3') ? Date.now() - killedAt : undefined;
        },
        10_000,
        10,
      );
      await delay(1000);
      loading = false;
      await Promise.all(clients);
      const lostConnection = sent.filter((entry) => entry.outcome.retriedCodes.includes('CONNECTION_LOST'));
      console.log(
        `      partitions moved ${movedMs} ms after SIGKILL; ${sent.length} reservations sent, ` +
          `${lostConnection.length} retried on another node after the kill`,
      );
      expect(movedMs).to.be.below(5000);

      // Every request got a definite answer (enough stock: all are holds).
      const notHeld = sent.filter((entry) => entry.outcome.status !== 201);
      expect(
        notHeld.map((entry) => `${entry.outcome.status} ${String(entry.outcome.body['code'])}`),
      ).to.deep.equal([]);

      // Retrying any request with its key, on a survivor, answers the first answer again.
      const survivors = [n1, n2];
      for (const [index, entry] of sent.entries()) {
        const again = await call(survivors[index % 2] as EngineNode, 'POST', '/v1/reservations', {
          body: entry.body,
          idempotencyKey: entry.key,
        });
        expect(again.status, entry.key).to.equal(201);
        expect(again.body['id'], entry.key).to.equal(entry.outcome.body['id']);
        expect(again.headers.get('idempotent-replayed'), entry.key).to.equal('true');
      }

      // The journal holds every acknowledged reservation, each idempotency key exactly once.
      const { projection, records } = await replayJournal(url, cluster.schema);
      const placed = records.filter((record) =>
        record.events.some((event) => event.type === 'ReservationPlaced'),
      );
      const placedIds = new Set(placed.map((record) => record.stream.slice('reservation/'.length)));
      for (const entry of sent) expect(placedIds.has(String(entry.outcome.body['id']))).to.equal(true);
      expect(placedIds.size).to.equal(sent.length);
      const keys = placed.map((record) =>
        JSON.stringify((record.meta?.['idempotency'] as { key?: unknown })?.key),
      );
      expect(new Set(keys).size).to.equal(placed.length);

      // Unexpired holds stay; the short ones, the victim's included, expire on the survivors' timers.
      for (const entry of long) {
        const answer = await call(n1, 'GET', `/v1/reservations/${String(entry.outcome.body['id'])}`);
        expect(answer.body['status']).to.equal('held');
      }
      await waitUntil(
        'every short hold to expire',
        async () => {
          const statuses = await Promise.all(
            shortIds.map(async (id) => (await call(n2, 'GET', `/v1/reservations/${id}`)).body['status']),
          );
          return statuses.every((status) => status === 'expired');
        },
        (SHORT_TTL_SECONDS + 15) * 1000,
        200,
      );

      // Once the load's holds have expired too, only the long holds remain: the orphans of the sagas the
      // victim was running when it died (holds taken, reservation never placed) must not keep stock.
      const expectedReserved = long.length;
      await waitUntil(
        `reserved to settle at ${expectedReserved}`,
        async () => (await sameLevelEverywhere(survivors, 'S1', 'SKU')).reserved === expectedReserved,
        (LOAD_TTL_SECONDS + 20) * 1000,
        250,
      ).catch(async (error: unknown) => {
        const { records: now } = await replayJournal(url, cluster.schema);
        const leftovers = [...holdsInJournal(now)]
          .filter(([, hold]) => hold.reservation !== 'ReservationPlaced')
          .map(([id, hold]) => {
            const partition = partitionOf(reservationStream(id), 16);
            const owner = [...spread].find(([, partitions]) => partitions.includes(partition))?.[0];
            return { id, ...hold, partition, ownerBeforeTheKill: owner };
          });
        throw new Error(`${String(error)}; holds without a live reservation: ${JSON.stringify(leftovers)}`);
      });

      // Both survivors serve exactly what a replay of the journal from scratch gives.
      const level = await sameLevelEverywhere(survivors, 'S1', 'SKU');
      const { projection: final } = await replayJournal(url, cluster.schema);
      const replayed = final.stock('SKU', 'S1');
      expect(replayed).to.not.equal(undefined);
      if (replayed) {
        const view = levelView('SKU', 'S1', replayed);
        expect(level).to.include({ onHand: view.onHand, reserved: view.reserved, version: view.version });
      }
      expect(level.reserved).to.equal(expectedReserved);
      for (const id of shortOfVictim) expect(final.reservation(id)?.status).to.equal('expired');
      expect(projection.stock('SKU', 'S1')).to.not.equal(undefined);
    } finally {
      await admin.end();
    }
  });
});
