// Guards: requests or answers cut half-way, a link that swallows packets, and an engine that refuses
// connections, between a live agent and a live engine. A cut answer leaves the agent not knowing
// whether its batch was applied; the resend must be absorbed (duplicates, or the first answer replayed
// for the same Idempotency-Key), never applied twice. Faults come from a TCP proxy under the test's
// control (tests/support/tcp-fault-proxy.ts).
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  chunks,
  delay,
  drained,
  expectEngineEqualsJournal,
  freePort,
  makeTemp,
  metricValue,
  registerLocation,
  removeTemp,
  till,
  tillMix,
  waitUntil,
} from '../../support/store-agent-processes.js';
import { TcpFaultProxy } from '../../support/tcp-fault-proxy.js';

describe('store agent: network faults between agent and engine (real processes)', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: EngineProcess;
  let proxy: TcpFaultProxy;
  let agent: AgentProcess;

  beforeEach(async () => {
    dir = await makeTemp('agent-net');
    const port = await freePort();
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    proxy = await new TcpFaultProxy({ host: '127.0.0.1', port }, 42).listen();
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: [
        '--request-timeout',
        '1s',
        '--retry-max',
        '300ms',
        '--breaker-reset',
        '300ms',
        '--batch-max',
        '50',
      ],
    });
    await agent.start();
  });

  afterEach(async () => {
    await agent.kill();
    await proxy.close();
    await engine.kill();
    await removeTemp(dir);
  });

  it('connections cut at random mid-request and mid-answer: every event applied exactly once', async () => {
    // Only forwarding goes through the proxy here, so every cut hits a request or its answer.
    await agent.stop();
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: ['--retry-max', '100ms', '--breaker-reset', '200ms', '--no-read-model', '--heartbeat', '0'],
    });
    await agent.start();
    proxy.cutChance = 0.05;
    proxy.delayMs = 1;
    // Tills keep selling until the proxy has cut at least 20 connections and 1500 events are recorded.
    let seed = 3;
    let recorded = 0;
    await waitUntil(
      'twenty cut connections under traffic',
      async () => {
        recorded += (await till(agent.url, tillMix(5, seed++))).length;
        return recorded >= 1500 && proxy.stats.cuts >= 20;
      },
      90_000,
      0,
    );
    proxy.heal();
    await drained(agent.url, 60_000);

    expect(proxy.stats.cuts, 'connections the proxy cut').to.be.at.least(20);
    const errors = await metricValue(
      agent.url,
      'store_agent_forward_errors_total{kind="network",store="S1"}',
    );
    expect(errors, 'forwarding attempts cut and retried').to.be.at.least(10);
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });

  it('a link that drops every packet: requests time out, the till is still answered at once, the backlog drains after', async () => {
    for (const batch of chunks(tillMix(50, 4), 10)) await till(agent.url, batch);
    await drained(agent.url);
    proxy.blackhole = true;
    const slowest = { ms: 0 };
    for (const event of tillMix(60, 5)) {
      const started = performance.now();
      await till(agent.url, [event]);
      slowest.ms = Math.max(slowest.ms, performance.now() - started);
    }
    await waitUntil('a forwarding timeout', async () => {
      const health = await agentHealth(agent.url);
      const lastError = health.forwarding.lastError as { kind?: string } | null;
      return lastError?.kind === 'timeout' || lastError?.kind === 'breaker_open';
    });
    // A till that waited on the engine would wait the 1 s request timeout at least.
    expect(slowest.ms, 'slowest till answer (ms) while packets are dropped').to.be.below(250);
    expect((await agentHealth(agent.url)).forwarding.backlog).to.equal(60);

    proxy.heal();
    proxy.cutAll(); // the swallowed connections
    await drained(agent.url, 30_000);
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });

  it('an engine that refuses connections opens the breaker (fail fast); it closes once the engine answers', async () => {
    // Retries (at most 100 ms apart) come faster than the breaker's 1 s trial: most must fail fast.
    await agent.stop();
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: path.join(dir, 'agent'),
      // Only forwarding talks to the engine here, so every connection the proxy sees is an attempt.
      extraArgs: [
        '--retry-min',
        '20ms',
        '--retry-max',
        '100ms',
        '--breaker-reset',
        '1s',
        '--no-read-model',
        '--heartbeat',
        '0',
      ],
    });
    await agent.start();
    proxy.refuse = true;
    proxy.cutAll();
    for (const batch of chunks(tillMix(40, 6), 4)) await till(agent.url, batch);
    await waitUntil(
      'the breaker to open',
      async () => (await agentHealth(agent.url)).forwarding.breaker === 'open',
    );
    expect(await metricValue(agent.url, 'store_agent_breaker_state{store="S1"}')).to.equal(2);
    // While open, attempts fail fast without touching the network: only the breaker's trials connect.
    const refusedBefore = proxy.stats.refused;
    const failFastBefore = await metricValue(
      agent.url,
      'store_agent_forward_errors_total{kind="breaker_open",store="S1"}',
    );
    await delay(2500);
    const failFast =
      (await metricValue(agent.url, 'store_agent_forward_errors_total{kind="breaker_open",store="S1"}')) -
      failFastBefore;
    const connected = proxy.stats.refused - refusedBefore;
    expect(failFast, 'attempts failed fast by the open breaker').to.be.greaterThan(5);
    expect(connected, 'connections tried in 2.5 s (one trial per second)').to.be.at.most(4);

    proxy.heal();
    await drained(agent.url, 30_000);
    await waitUntil(
      'the breaker to close',
      async () => (await agentHealth(agent.url)).forwarding.breaker === 'closed',
    );
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });
});
