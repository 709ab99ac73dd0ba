// SSE resume on another node: a storefront reads /v1/stream from node A, A goes away, the client
// reconnects to node B with Last-Event-ID. Every node applies every record in the journal's order and
// feed ids are journal positions (<seq>.<index>), so B resumes exactly after the last item A sent:
// nothing lost, nothing repeated, while writes go on through both nodes.
import { expect } from 'chai';
import {
  type EngineNode,
  callWithRetry,
  delay,
  describeCluster,
  feedIds,
  newKey,
  openStream,
  seedStock,
  startNodes,
  waitUntil,
  clusterFixture,
} from './cluster-support.js';

const WRITES = 120;

describeCluster('cluster: SSE resume on another node', (url) => {
  const cluster = clusterFixture(url, 'cluster-sse');

  it('resumes on node B after the last item node A sent, with nothing lost or duplicated', async function () {
    this.timeout(120_000);
    const [a, b] = (await startNodes(url, cluster.schema, ['a', 'b'], cluster.started)) as [
      EngineNode,
      EngineNode,
    ];
    await seedStock(a, 'S1', 'SKU', 10);
    const first = await openStream(a, '/v1/stream?after=0');
    expect(first.status).to.equal(200);

    // Writes through both nodes, alternating, while the client switches nodes.
    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < WRITES; i++) {
        const answer = await callWithRetry([a, b], i % 2, 'POST', '/v1/locations/S1/stock/SKU/adjustments', {
          body: { delta: 1, reason: 'receipt' },
          idempotencyKey: newKey(),
          otherNodeOn503: true,
        });
        if (answer.status !== 200)
          throw new Error(`adjustment: ${answer.status} ${JSON.stringify(answer.body)}`);
        written++;
        await delay(5);
      }
    })();

    let failed: unknown;
    writer.catch((error: unknown) => (failed = error));
    await first.waitFor(() => first.ids.length >= 30 || failed !== undefined);
    if (failed !== undefined) throw failed;
    first.close();
    const fromA = [...first.ids];
    const lastId = fromA[fromA.length - 1] as string;
    const second = await openStream(b, '/v1/stream', { 'last-event-id': lastId });
    expect(second.status).to.equal(200);
    await writer;
    expect(written).to.equal(WRITES);

    const all = await feedIds(b);
    expect(await feedIds(a)).to.deep.equal(all);
    await second.waitFor(() => second.ids.at(-1) === all.at(-1), 15_000);
    // A sent a prefix of the feed; B sent exactly the rest.
    expect(fromA).to.deep.equal(all.slice(0, fromA.length));
    expect(second.ids).to.deep.equal(all.slice(fromA.length));
    expect(new Set([...fromA, ...second.ids]).size).to.equal(all.length);
    expect(all.length).to.equal(WRITES + 2);
    second.close();
    await waitUntil('nothing more to arrive', async () => {
      await delay(200);
      return second.ids.length === all.length - fromA.length;
    });
  });
});
