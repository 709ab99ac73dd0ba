// Guards: a store whose agent went silent may be selling offline; the engine must say so (staleSince
// on the store's levels), stop promising its last units online (the offline buffer), and undo both
// as soon as the agent is back. Heartbeats alone (no till events) must keep a quiet store fresh.
// The engine runs with a 1 s silence threshold (STORE_SILENT_AFTER_SECONDS) and the agent beats every
// 200 ms.
import path from 'node:path';
import { expect } from 'chai';
import {
  AgentProcess,
  EngineProcess,
  delay,
  drained,
  freePort,
  http,
  keys,
  makeTemp,
  registerLocation,
  removeTemp,
  till,
  uniqueKey,
  waitUntil,
} from '../../support/store-agent-processes.js';

const SILENT_AFTER_MS = 1000;
const OFFLINE_BUFFER = 2;

describe('store agent: a silent agent makes its store stale (heartbeats, offline buffer)', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: EngineProcess;
  let agent: AgentProcess;

  const level = async () =>
    (await http(engine.url, 'GET', '/v1/locations/S1/stock/A', { key: keys.reader })).json as {
      onHand: number;
      available: number;
      staleSince?: string;
    };

  before(async () => {
    dir = await makeTemp('agent-silent');
    engine = new EngineProcess({
      dataDir: path.join(dir, 'engine'),
      port: await freePort(),
      env: {
        STORE_SILENT_AFTER_SECONDS: String(SILENT_AFTER_MS / 1000),
        OFFLINE_BUFFER_UNITS: String(OFFLINE_BUFFER),
      },
    });
    await engine.start();
    await registerLocation(engine.url, 'S1');
    agent = new AgentProcess({
      storeId: 'S1',
      engineUrl: engine.url,
      dataDir: path.join(dir, 'agent'),
      extraArgs: ['--heartbeat', '200ms'],
    });
    await agent.start();
  });

  after(async () => {
    await agent.kill();
    await engine.kill();
    await removeTemp(dir);
  });

  it('stays fresh on heartbeats, turns stale with the buffer withheld when the agent stops, recovers when it returns', async () => {
    await till(agent.url, [{ type: 'receipt', sku: 'A', quantity: 10 }]);
    await drained(agent.url);

    // No till event for twice the threshold: heartbeats alone keep the store fresh.
    await delay(2 * SILENT_AFTER_MS);
    expect(await level())
      .to.deep.include({ onHand: 10, available: 10 })
      .and.not.have.property('staleSince');

    const killedAt = Date.now();
    await agent.kill();
    const stale = await waitUntil(
      'the level to turn stale',
      async () => {
        const current = await level();
        return current.staleSince !== undefined ? current : undefined;
      },
      SILENT_AFTER_MS + 5000,
    );
    expect(Date.now() - killedAt, 'not before the silence threshold').to.be.at.least(SILENT_AFTER_MS - 300);
    // staleSince is the store's last contact: its last heartbeat, just before the kill.
    expect(Date.parse(stale.staleSince ?? '')).to.be.within(killedAt - 1000, killedAt + 50);
    expect(stale).to.deep.include({ onHand: 10, available: 10 - OFFLINE_BUFFER });
    const storefront = await http(engine.url, 'GET', '/v1/stock/A', { key: keys.storefront });
    const locations = storefront.json['locations'] as { locationId: string; staleSince?: string }[];
    expect(locations.find((location) => location.locationId === 'S1')?.staleSince).to.equal(stale.staleSince);

    // Online promises stop short of the buffer: 9 of the 10 units cannot be held while the store is silent.
    const refused = await http(engine.url, 'POST', '/v1/reservations', {
      key: keys.storefront,
      body: { lines: [{ sku: 'A', quantity: 9, locationId: 'S1' }], ttlSeconds: 60 },
      idempotencyKey: uniqueKey('hold'),
    });
    expect(refused.status).to.equal(409);
    expect(refused.json['code']).to.equal('STOCK_INSUFFICIENT');

    await agent.start();
    await waitUntil(
      'the level to be fresh again',
      async () => (await level()).staleSince === undefined,
      5000,
    );
    expect(await level()).to.deep.include({ onHand: 10, available: 10 });
  });
});
