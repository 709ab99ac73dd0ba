// Guards: a till sale lost or blocked while the engine is down, and a backlog replayed out of order
// or twice when it comes back. The engine and the agent run as real processes; the engine is killed
// with SIGKILL (no shutdown code runs) and restarted on the same port and data directory.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  chunks,
  drained,
  engineOnHand,
  expectEngineEqualsJournal,
  freePort,
  http,
  makeTemp,
  metricValue,
  registerLocation,
  removeTemp,
  till,
  tillMix,
  waitUntil,
} from '../../support/store-agent-processes.js';

describe('store agent: sales during an engine outage (real processes)', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: EngineProcess;
  let agent: AgentProcess;

  beforeEach(async () => {
    dir = await makeTemp('agent-outage');
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port: await freePort() });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: engine.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: ['--retry-max', '400ms', '--breaker-reset', '300ms'],
    });
    await agent.start();
  });

  afterEach(async () => {
    await agent.kill();
    await engine.kill();
    await removeTemp(dir);
  });

  it('keeps accepting sales while the engine is killed, then drains the backlog in order, exactly once', async () => {
    for (const batch of chunks(tillMix(120, 7), 12)) await till(agent.url, batch);
    const beforeOutage = await drained(agent.url);
    expect(beforeOutage).to.equal(120);

    await engine.kill();
    const outage = tillMix(300, 8);
    const answered: number[] = [];
    for (const event of outage) answered.push(...(await till(agent.url, [event])));
    expect(answered, 'gap-free seqs while the engine is down').to.deep.equal(
      Array.from({ length: 300 }, (_, i) => 121 + i),
    );
    const during = await agentHealth(agent.url);
    expect(during.forwarding.backlog).to.equal(300);
    expect(during.status).to.equal('degraded');
    await waitUntil(
      'the breaker to open',
      async () => (await agentHealth(agent.url)).forwarding.breaker === 'open',
    );
    expect(await metricValue(agent.url, 'store_agent_backlog_events{store="S1"}')).to.equal(300);
    expect(
      await metricValue(agent.url, 'store_agent_oldest_unsent_event_age_seconds{store="S1"}'),
    ).to.be.greaterThan(0);

    await engine.start();
    await drained(agent.url, 30_000);
    const after = await agentHealth(agent.url);
    expect(after.forwarding.ackedSeq).to.equal(420);
    await waitUntil(
      'the breaker to close',
      async () => (await agentHealth(agent.url)).forwarding.breaker === 'closed',
    );

    // The read model resumed its stream after the engine came back and caught up with the engine.
    await waitUntil('the read model to catch up', async () => {
      const stock = await http(agent.url, 'GET', '/stock?sku=A');
      const levels = stock.json['levels'] as { onHand: number }[];
      return (
        stock.json['connected'] === true && levels[0]?.onHand === (await engineOnHand(engine.url, 'S1', 'A'))
      );
    });

    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });

  it('answers the till from its local journal alone: no till request waits on the dead engine', async () => {
    await engine.kill();
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      await till(agent.url, [{ type: 'sale', sku: 'A', quantity: 1 }]);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    // The forwarder retries with backoff meanwhile; a till waiting on it would take hundreds of ms.
    expect(latencies[latencies.length - 1], 'slowest till answer (ms)').to.be.below(250);
    const health = await agentHealth(agent.url);
    expect(health.journal.lastSeq).to.equal(100);
    expect(health.forwarding.backlog).to.equal(100);

    await engine.start();
    await drained(agent.url, 30_000);
    expect(await agent.stop()).to.equal(0);
    const comparison = await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
    expect(comparison.engineOnHand.get('A')).to.equal(-100);
  });
});
