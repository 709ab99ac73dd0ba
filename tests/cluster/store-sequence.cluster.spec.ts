// Store sequence numbers are enforced cluster-wide: a store agent that re-sends the same till batch to
// every node at once (failover gone wrong, a retry storm) has each sale applied exactly once. Each till
// event claims `store/<id>/<seq>` on its record, and the shared journal refuses a second claim whichever
// node makes it.
import { expect } from 'chai';
import { levelView } from '../../engine/feed.js';
import {
  type EngineNode,
  call,
  describeCluster,
  newKey,
  replayJournal,
  sameLevelEverywhere,
  seedStock,
  startNodes,
  clusterFixture,
} from './cluster-support.js';

const SALES = 30;

describeCluster('cluster: store sequence numbers across nodes', (url) => {
  const cluster = clusterFixture(url, 'cluster-store-seq');

  it('applies each till event once when the same batches reach all three nodes at once', async function () {
    this.timeout(120_000);
    const nodes = await startNodes(url, cluster.schema, ['n1', 'n2', 'n3'], cluster.started);
    await seedStock(nodes[0] as EngineNode, 'S1', 'SKU', 100);
    await sameLevelEverywhere(nodes, 'S1', 'SKU');
    const occurredAt = new Date().toISOString();
    const batches = Array.from({ length: SALES / 5 }, (_, b) => ({
      events: Array.from({ length: 5 }, (_, i) => ({
        seq: b * 5 + i + 1,
        type: 'sale',
        sku: 'SKU',
        quantity: 1,
        occurredAt,
      })),
    }));
    // Every batch, in order, to every node at once (each node's copy with its own key, as if re-sent).
    for (const body of batches) {
      const answers = await Promise.all(
        nodes.map((node) => call(node, 'POST', '/v1/stores/S1/events', { body, idempotencyKey: newKey() })),
      );
      for (const answer of answers) {
        // 200 (applied, or acknowledged as duplicates); a node that lost the race may answer 503 to retry.
        expect([200, 503], JSON.stringify(answer.body)).to.include(answer.status);
      }
      const applied = answers.reduce((sum, answer) => sum + Number(answer.body['applied'] ?? 0), 0);
      expect(applied, JSON.stringify(answers.map((answer) => answer.body))).to.be.at.most(5);
    }
    // Then once more through each node, sequentially: everything is a duplicate by now.
    for (const node of nodes) {
      const answer = await call(node, 'POST', '/v1/stores/S1/events', {
        body: { events: batches.flatMap((batch) => batch.events) },
        idempotencyKey: newKey(),
      });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body).to.include({ applied: 0, duplicates: SALES, lastSeq: SALES });
    }

    const level = await sameLevelEverywhere(nodes, 'S1', 'SKU');
    expect(level.onHand).to.equal(100 - SALES);
    const { projection, records } = await replayJournal(url, cluster.schema);
    const sales = records.flatMap((record) => record.events.filter((event) => event.type === 'StockSold'));
    expect(sales).to.have.length(SALES);
    const replayed = projection.stock('SKU', 'S1');
    if (replayed) expect(levelView('SKU', 'S1', replayed).onHand).to.equal(level.onHand);
    for (const node of nodes) {
      const store = await call(node, 'GET', '/v1/stores/S1');
      expect(store.body['lastSeq']).to.equal(SALES);
    }
  });
});
