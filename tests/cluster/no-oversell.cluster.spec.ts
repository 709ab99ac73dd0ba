// Three engine processes on one PostgreSQL, one hot SKU, reservations through all three at once.
// Guards the bug that matters most in cluster mode: two nodes each promising the last unit from their
// own copy of the level. Every node's actor may be stale; the journal's (stream, version) fence makes
// the loser catch up and decide again, so successes can never exceed the stock.
import { expect } from 'chai';
import { levelView } from '../../engine/feed.js';
import {
  type EngineNode,
  type Outcome,
  callWithRetry,
  describeCluster,
  newKey,
  replayJournal,
  sameLevelEverywhere,
  seedStock,
  startNodes,
  clusterFixture,
} from './cluster-support.js';

const STOCK = 40;
const REQUESTS_PER_NODE = 40;

describeCluster('cluster: three engine nodes never oversell', (url) => {
  const cluster = clusterFixture(url, 'cluster-cleanup');

  it(`${3 * REQUESTS_PER_NODE} concurrent single-unit reservations of ${STOCK} units through three nodes: exactly ${STOCK} succeed`, async function () {
    this.timeout(120_000);
    const nodes = await startNodes(url, cluster.schema, ['n1', 'n2', 'n3'], cluster.started);
    const [n1] = nodes as [EngineNode];
    await seedStock(n1, 'S1', 'HOT', STOCK);
    const seeded = await sameLevelEverywhere(nodes, 'S1', 'HOT');
    expect(seeded.available).to.equal(STOCK);

    const body = { lines: [{ sku: 'HOT', quantity: 1, locationId: 'S1' }], ttlSeconds: 600 };
    const requests: Promise<Outcome>[] = [];
    for (let i = 0; i < REQUESTS_PER_NODE; i++) {
      for (let n = 0; n < nodes.length; n++) {
        requests.push(
          callWithRetry(nodes, n, 'POST', '/v1/reservations', { body, idempotencyKey: newKey() }),
        );
      }
    }
    const outcomes = await Promise.all(requests);

    const held = outcomes.filter((outcome) => outcome.status === 201);
    const refused = outcomes.filter(
      (outcome) => outcome.status === 409 && outcome.body['code'] === 'STOCK_INSUFFICIENT',
    );
    const other = outcomes.filter((outcome) => !held.includes(outcome) && !refused.includes(outcome));
    const retries = outcomes.flatMap((outcome) => outcome.retriedCodes);
    console.log(
      `      ${held.length} held, ${refused.length} refused, ${retries.length} client retries ` +
        `(${[...new Set(retries)].join(', ') || 'none'}); answered by ` +
        ['n1', 'n2', 'n3'].map((id) => `${id}: ${held.filter((o) => o.node === id).length}`).join(', '),
    );
    // Every request gets a definite answer: a hold, or a refusal once the stock is gone. A 503 that
    // persists through a client's retries is a sale lost to contention between nodes.
    expect(other.map((outcome) => `${outcome.status} ${String(outcome.body['code'])}`)).to.deep.equal([]);
    expect(held).to.have.length(STOCK);
    expect(refused).to.have.length(3 * REQUESTS_PER_NODE - STOCK);
    const ids = new Set(held.map((outcome) => String(outcome.body['id'])));
    expect(ids.size).to.equal(STOCK);

    const level = await sameLevelEverywhere(nodes, 'S1', 'HOT');
    expect(level).to.include({ onHand: STOCK, reserved: STOCK, available: 0 });

    // The three nodes serve exactly what a replay of the shared journal from scratch gives.
    const { projection, records } = await replayJournal(url, cluster.schema);
    const replayed = projection.stock('HOT', 'S1');
    expect(replayed).to.not.equal(undefined);
    if (replayed) {
      const view = levelView('HOT', 'S1', replayed);
      expect({ onHand: level.onHand, reserved: level.reserved, version: level.version }).to.deep.equal({
        onHand: view.onHand,
        reserved: view.reserved,
        version: view.version,
      });
    }
    const placed = records.filter((record) =>
      record.events.some((event) => event.type === 'ReservationPlaced'),
    );
    expect(placed.map((record) => record.stream.slice('reservation/'.length)).sort()).to.deep.equal(
      [...ids].sort(),
    );
  });
});
