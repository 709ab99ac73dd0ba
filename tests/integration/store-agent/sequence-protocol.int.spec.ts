// Guards: exactly-once resting on the store's sequence numbers. Batches delivered twice (by the
// network, by an agent that lost its progress file) must be acknowledged as duplicates and change
// nothing; batches that skip ahead or arrive shuffled must be refused whole with the seq the engine
// expects, so nothing is applied out of order; and an engine that lost the store's events (restored
// from an older copy) must get them resent from the seq it names.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import type { StoreEventInput } from '../../../engine/types.js';
import { wireEvent } from '../../../store-agent/till-events.js';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  chunks,
  drained,
  expectEngineEqualsJournal,
  freePort,
  http,
  keys,
  makeTemp,
  metricValue,
  readAgentJournal,
  registerLocation,
  removeTemp,
  till,
  tillMix,
  uniqueKey,
  waitUntil,
} from '../../support/store-agent-processes.js';
import { TcpFaultProxy } from '../../support/tcp-fault-proxy.js';

const postBatch = (
  engineUrl: string,
  events: readonly StoreEventInput[],
  idempotencyKey = uniqueKey('batch'),
) => http(engineUrl, 'POST', '/v1/stores/S1/events', { key: keys.storeS1, body: { events }, idempotencyKey });

const storeLastSeq = async (engineUrl: string): Promise<number> =>
  (await http(engineUrl, 'GET', '/v1/stores/S1', { key: keys.reader })).json['lastSeq'] as number;

describe('store agent: the sequence protocol absorbs duplicates, reordering and a forgetful engine', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: EngineProcess;
  let proxy: TcpFaultProxy;
  let agent: AgentProcess;
  const agentDir = () => path.join(dir, 'agent');

  beforeEach(async () => {
    dir = await makeTemp('agent-seq');
    const port = await freePort();
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    proxy = await new TcpFaultProxy({ host: '127.0.0.1', port }).listen();
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: agentDir(),
      extraArgs: ['--retry-max', '200ms', '--breaker-reset', '200ms'],
    });
    await agent.start();
  });

  afterEach(async () => {
    await agent.kill();
    await proxy.close();
    await engine.kill();
    await removeTemp(dir);
  });

  it('duplicate delivery: every batch resent is acknowledged as duplicates and applies nothing', async () => {
    for (const batch of chunks(tillMix(200, 11), 20)) await till(agent.url, batch);
    await drained(agent.url);
    expect(await agent.stop()).to.equal(0);
    const journal = (await readAgentJournal(agentDir())).map(wireEvent);

    // The network delivers every batch again, under new keys: all duplicates.
    for (const batch of chunks(journal, 7)) {
      const answer = await postBatch(engine.url, batch);
      expect(answer.status).to.equal(200);
      expect(answer.json).to.deep.include({ applied: 0, duplicates: batch.length, lastSeq: 200 });
    }
    await expectEngineEqualsJournal(engine.url, agentDir(), 'S1');
  });

  it('reordering: a batch that skips ahead or is shuffled is refused whole with the seq expected', async () => {
    for (const batch of chunks(tillMix(30, 12), 10)) await till(agent.url, batch);
    await drained(agent.url);
    // The engine becomes unreachable; the till records 20 more events the engine has not seen.
    proxy.refuse = true;
    proxy.cutAll();
    for (const batch of chunks(tillMix(20, 13), 5)) await till(agent.url, batch);
    expect((await agentHealth(agent.url)).forwarding.backlog).to.equal(20);
    expect(await agent.stop()).to.equal(0);
    const journal = (await readAgentJournal(agentDir())).map(wireEvent);
    expect(journal).to.have.length(50);

    const ahead = await postBatch(engine.url, journal.slice(34, 40)); // seqs 35..40
    expect(ahead.status).to.equal(409);
    expect(ahead.json).to.deep.include({ code: 'STORE_SEQUENCE_GAP', expectedSeq: 31 });
    const swapped = [journal[31], journal[30]].filter(
      (event): event is StoreEventInput => event !== undefined,
    );
    const shuffled = await postBatch(engine.url, swapped); // seqs 32, 31
    expect(shuffled.status).to.equal(409);
    expect(shuffled.json).to.deep.include({ code: 'STORE_SEQUENCE_GAP', expectedSeq: 31 });
    const holed = await postBatch(
      engine.url,
      [journal[30], journal[32]].filter((e): e is StoreEventInput => !!e),
    );
    expect(holed.status).to.equal(409);
    expect(holed.json['expectedSeq']).to.equal(32);
    expect(await storeLastSeq(engine.url), 'nothing applied from the refused batches').to.equal(30);

    // An overlapping batch: its old half counts as duplicates, its new half is applied.
    const key = uniqueKey('overlap');
    const overlap = await postBatch(engine.url, journal.slice(26, 34), key); // seqs 27..34
    expect(overlap.json).to.deep.include({ applied: 4, duplicates: 4, lastSeq: 34 });
    // A retry under the same key gets the first answer back, marked as replayed.
    const retried = await postBatch(engine.url, journal.slice(26, 34), key);
    expect(retried.json).to.deep.include({ applied: 4, duplicates: 4, lastSeq: 34 });
    expect(retried.headers.get('idempotent-replayed')).to.equal('true');
    // The same key with another batch is refused rather than guessed at.
    expect((await postBatch(engine.url, journal.slice(27, 35), key)).status).to.equal(422);
    expect(await storeLastSeq(engine.url)).to.equal(34);

    // The agent, restarted with the engine reachable, resends from its own progress (seq 31):
    // 31..34 come back as duplicates, 35..50 are applied.
    proxy.heal();
    await agent.start();
    await drained(agent.url);
    expect(
      await metricValue(agent.url, 'store_agent_events_forwarded_total{outcome="duplicate",store="S1"}'),
    ).to.equal(4);
    expect(
      await metricValue(agent.url, 'store_agent_events_forwarded_total{outcome="applied",store="S1"}'),
    ).to.equal(16);
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, agentDir(), 'S1');
  });

  it('an agent that lost its progress file resends everything: absorbed as duplicates', async () => {
    for (const batch of chunks(tillMix(150, 14), 15)) await till(agent.url, batch);
    await drained(agent.url);
    expect(await agent.stop()).to.equal(0);
    await rm(path.join(agentDir(), 'forwarding.json'));
    await agent.start();
    await waitUntil('the agent to re-acknowledge everything', async () => {
      const health = await agentHealth(agent.url);
      return health.forwarding.ackedSeq === 150;
    });
    expect(
      await metricValue(agent.url, 'store_agent_events_forwarded_total{outcome="duplicate",store="S1"}'),
    ).to.equal(150);
    expect(
      await metricValue(agent.url, 'store_agent_events_forwarded_total{outcome="applied",store="S1"}'),
    ).to.equal(0);
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, agentDir(), 'S1');
  });

  it('an engine that lost the store events (restored from an older copy) gets them resent from the seq it expects', async () => {
    for (const batch of chunks(tillMix(80, 15), 8)) await till(agent.url, batch);
    await drained(agent.url);
    expect(await agent.stop()).to.equal(0);
    // Replace the engine by an empty one on the same port: it expects seq 1, the agent thinks 80 are done.
    await engine.kill();
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine-restored'), port: engine.options.port });
    await engine.start();
    await registerLocation(engine.url, 'S1');

    await agent.start();
    await till(agent.url, [{ type: 'sale', sku: 'A', quantity: 1 }]);
    await drained(agent.url);
    expect(await metricValue(agent.url, 'store_agent_sequence_gaps_total{store="S1"}')).to.be.at.least(1);
    expect(await agent.stop()).to.equal(0);
    const comparison = await expectEngineEqualsJournal(engine.url, agentDir(), 'S1');
    expect(comparison.journalEvents).to.equal(81);
  });

  it('an engine that knows more of the store than its journal holds stops forwarding instead of losing sales', async () => {
    for (const batch of chunks(tillMix(10, 16), 5)) await till(agent.url, batch);
    await drained(agent.url);
    expect(await agent.stop()).to.equal(0);
    // The agent's data directory is replaced by an empty one: seq 1 again for the engine would be a duplicate.
    await rm(agentDir(), { recursive: true, force: true });
    await agent.start();
    await waitUntil('the agent to report the divergence', async () => {
      const health = await agentHealth(agent.url);
      return health.status === 'diverged' && health.forwarding.diverged !== null;
    });
    await till(agent.url, [{ type: 'sale', sku: 'A', quantity: 1 }]);
    const health = await agentHealth(agent.url);
    expect(health.forwarding.ackedSeq).to.equal(0);
    expect(health.forwarding.backlog).to.equal(1);
    expect(await storeLastSeq(engine.url)).to.equal(10);
  });
});
