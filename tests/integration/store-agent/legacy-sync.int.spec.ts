// Guards: the legacy mode must reproduce today's periodic sync faithfully (nothing reaches the engine
// between pushes; each push carries everything recorded before it), so the comparison with live
// forwarding in docs/benchmarks.md measures the real difference, and it must keep the same
// exactly-once guarantee.
import path from 'node:path';
import { expect } from 'chai';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  delay,
  drained,
  expectEngineEqualsJournal,
  freePort,
  http,
  keys,
  makeTemp,
  metricValue,
  registerLocation,
  removeTemp,
  till,
  tillMix,
  waitUntil,
} from '../../support/store-agent-processes.js';

const INTERVAL_MS = 1500;

describe('store agent: --legacy-sync pushes on a timer only (real processes)', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: EngineProcess;
  let agent: AgentProcess;

  const engineLastSeq = async (): Promise<number> =>
    (await http(engine.url, 'GET', '/v1/stores/S1', { key: keys.reader })).json['lastSeq'] as number;
  const lastPushAt = async (): Promise<string | null> => {
    const health = (await agentHealth(agent.url)) as unknown as {
      forwarding: { mode: string; legacy?: { lastPushAt: string | null; pushing: boolean } };
    };
    expect(health.forwarding.mode).to.equal('legacy');
    return health.forwarding.legacy?.pushing ? null : (health.forwarding.legacy?.lastPushAt ?? null);
  };
  /** Resolves right after the next push has finished. */
  const nextPush = async (): Promise<void> => {
    const previous = await lastPushAt();
    await waitUntil('the next legacy push', async () => {
      const current = await lastPushAt();
      return current !== null && current !== previous;
    });
  };

  before(async () => {
    dir = await makeTemp('agent-legacy');
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port: await freePort() });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: engine.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: ['--legacy-sync', `${INTERVAL_MS}ms`, '--batch-max', '10'],
    });
    await agent.start();
  });

  after(async () => {
    await agent.kill();
    await engine.kill();
    await removeTemp(dir);
  });

  it('holds events until the next push, then delivers all of them; nothing moves in between', async () => {
    await nextPush();
    const pushedBefore = Date.now();
    await till(agent.url, tillMix(25, 21));
    // Half an interval later the engine has still seen nothing: no live forwarding.
    await delay(INTERVAL_MS / 2);
    expect(await engineLastSeq()).to.equal(0);
    expect((await agentHealth(agent.url)).forwarding.backlog).to.equal(25);

    await nextPush();
    // One push carries everything recorded before it, in requests of at most --batch-max (10) events.
    expect(await engineLastSeq()).to.equal(25);
    expect(Date.now() - pushedBefore, 'delivered at the push, not before').to.be.at.least(INTERVAL_MS / 2);
    await till(agent.url, [{ type: 'sale', sku: 'A', quantity: 1 }]);
    await delay(INTERVAL_MS / 3);
    expect(await engineLastSeq()).to.equal(25);
    await drained(agent.url, 10_000);
    expect(await engineLastSeq()).to.equal(26);
    // Today's stores send no heartbeat; legacy mode reproduces that by default.
    expect(await metricValue(agent.url, 'store_agent_heartbeats_total{outcome="ok",store="S1"}')).to.equal(0);

    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });
});
