// Guards: an agent that dies (SIGKILL: no shutdown code) while tills are posting and a batch is on its
// way to the engine must lose nothing it acknowledged to a till, and, restarted on the same data
// directory, must resume from its journal and its saved progress without applying anything twice.
// A slow link (a delaying proxy) keeps batches in flight at the moment of the kill.
import path from 'node:path';
import { expect } from 'chai';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  delay,
  drained,
  engineOnHand,
  expectEngineEqualsJournal,
  freePort,
  http,
  makeTemp,
  readAgentJournal,
  registerLocation,
  removeTemp,
  till,
  tillMix,
  waitUntil,
} from '../../support/store-agent-processes.js';
import { TcpFaultProxy } from '../../support/tcp-fault-proxy.js';

describe('store agent: killed mid-forward and restarted (real processes)', function () {
  this.timeout(180_000);
  let dir: string;
  let engine: EngineProcess;
  let proxy: TcpFaultProxy;
  let agent: AgentProcess;

  before(async () => {
    dir = await makeTemp('agent-crash');
    const port = await freePort();
    engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    proxy = await new TcpFaultProxy({ host: '127.0.0.1', port }).listen();
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: ['--batch-max', '25', '--retry-max', '300ms'],
    });
  });

  after(async () => {
    await agent.kill();
    await proxy.close();
    await engine.kill();
    await removeTemp(dir);
  });

  it('loses no acknowledged sale and applies every event exactly once across three SIGKILLs', async () => {
    const acknowledged: number[] = [];
    let seed = 100;
    let requests = 0;
    let unanswered: { key: string; events: ReturnType<typeof tillMix> } | undefined;
    for (let round = 0; round < 3; round++) {
      await agent.start();
      // A till retries the request the kill left unanswered, with its Idempotency-Key: it may or may
      // not have been recorded before the kill, and must be recorded once either way.
      if (unanswered) acknowledged.push(...(await till(agent.url, unanswered.events, unanswered.key)));
      unanswered = undefined;
      proxy.delayMs = 15;
      const ackedAtStart = (await agentHealth(agent.url)).forwarding.ackedSeq;
      // Tills keep posting until the kill; the request in flight dies with the agent, unanswered.
      let posting = true;
      const poster = (async () => {
        while (posting) {
          const request = { key: `till-request-${++requests}`, events: tillMix(5, seed++) };
          try {
            acknowledged.push(...(await till(agent.url, request.events, request.key)));
          } catch {
            unanswered = request;
            return;
          }
        }
      })();
      await waitUntil(
        'a batch acknowledged and more on the way',
        async () => {
          const health = await agentHealth(agent.url);
          return health.forwarding.ackedSeq > ackedAtStart + 50 && health.forwarding.backlog > 10;
        },
        30_000,
      );
      await agent.kill();
      posting = false;
      await poster;

      const journal = await readAgentJournal(path.join(dir, 'agent'));
      const lastSeq = journal.length;
      expect(journal.map((event) => event.seq)).to.deep.equal(
        Array.from({ length: lastSeq }, (_, i) => i + 1),
      );
      expect(Math.max(...acknowledged), 'every seq answered to a till is in the journal').to.be.at.most(
        lastSeq,
      );
    }
    expect(new Set(acknowledged).size, 'no seq answered twice').to.equal(acknowledged.length);

    proxy.heal();
    await agent.start();
    if (unanswered) acknowledged.push(...(await till(agent.url, unanswered.events, unanswered.key)));
    // Every request answered once, five events each: no retried request was recorded twice.
    expect(acknowledged.length).to.equal(5 * requests);
    expect([...acknowledged].sort((a, b) => a - b)).to.deep.equal(
      Array.from({ length: acknowledged.length }, (_, i) => i + 1),
    );
    await drained(agent.url, 60_000);
    // The read model resumed from its saved Last-Event-ID and agrees with the engine.
    await waitUntil('the read model to catch up', async () => {
      const stock = await http(agent.url, 'GET', '/stock');
      const levels = stock.json['levels'] as { sku: string; onHand: number }[];
      if (levels.length === 0) return false;
      for (const level of levels) {
        if (level.onHand !== (await engineOnHand(engine.url, 'S1', level.sku))) return false;
      }
      return true;
    });
    expect(await agent.stop()).to.equal(0);
    await expectEngineEqualsJournal(engine.url, path.join(dir, 'agent'), 'S1');
  });

  it('refuses a second agent on the same data directory while the first runs', async () => {
    await agent.start();
    const second = new AgentProcess({
      storeId: 'S1',
      engineUrl: proxy.url,
      dataDir: path.join(dir, 'agent'),
    });
    let failure: unknown;
    try {
      await second.start(20_000);
    } catch (error) {
      failure = error;
    }
    await second.kill();
    expect(String(failure)).to.match(/another store agent \(pid \d+\) uses/);
    await delay(50);
    expect((await agentHealth(agent.url)).journal.lastSeq).to.be.greaterThan(0);
    expect(await agent.stop()).to.equal(0);
  });
});
