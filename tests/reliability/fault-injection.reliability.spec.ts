// The test facility of api/fault-injection.ts, and the promise it lets the harness check in the real
// process: when a journal write or fsync fails, the failed batch is acknowledged to nobody, nothing of it
// is ever read back (not even after a crash), and the engine serves writes again once the journal recovers.
//
// Guards against: the fault route reachable in a normal server; a non-admin key moving the clock; an
// answer 200 for a write whose batch failed; a failed batch resurfacing after a restart.
import { expect } from 'chai';
import { TestServer, seedStock } from './harness/server.js';

describe('reliability: the fault-injection facility (real server)', function () {
  this.timeout(60_000);

  it('does not exist without FAULT_INJECTION=1', async () => {
    const server = await new TestServer().start();
    try {
      for (const as of ['admin', 'reader'] as const) {
        const result = await server.request('POST', '/v1/_faults', { as, body: { failNextFsyncs: 1 } });
        expect(result.status, result.text).to.equal(404);
      }
    } finally {
      await server.close();
    }
  });

  describe('with FAULT_INJECTION=1', () => {
    const server = new TestServer({ FAULT_INJECTION: '1' });
    before(async () => {
      await server.start();
      await seedStock(
        server,
        [{ sku: 'EIO', locationId: 'W1', onHand: 0 }],
        [{ id: 'W1', type: 'warehouse' }],
      );
    });
    after(() => server.close());

    it('is for admin keys only, and validates its command', async () => {
      expect((await server.request('POST', '/v1/_faults', { as: 'reader', body: {} })).status).to.equal(403);
      expect((await server.request('POST', '/v1/_faults', { as: 'storefront', body: {} })).status).to.equal(
        403,
      );
      for (const body of [
        { failNextFsyncs: -1 },
        { clockOffsetMs: 1.5 },
        { failNextWrites: 'x' },
        { unknown: 1 },
        [],
      ]) {
        const result = await server.request('POST', '/v1/_faults', { body });
        expect(result.status, JSON.stringify(body)).to.equal(400);
      }
      const state = await server.request('POST', '/v1/_faults', { body: {} });
      expect(state.json).to.deep.equal({
        pendingFsyncFailures: 0,
        pendingWriteFailures: 0,
        clockOffsetMs: 0,
        injected: { fdatasync: 0, write: 0 },
      });
    });

    for (const fault of ['failNextFsyncs', 'failNextWrites'] as const) {
      it(`${fault}: the failed batch is acknowledged to nobody and never read back, even after a crash`, async () => {
        await server.faults({ [fault]: 1 });
        const keys = Array.from({ length: 40 }, (_, i) => `${fault}-${i}`);
        const answers = await Promise.all(
          keys.map((key) =>
            server.request('POST', '/v1/locations/W1/stock/EIO/adjustments', {
              body: { delta: 1, reason: 'receipt' },
              idempotencyKey: key,
            }),
          ),
        );
        const acknowledged = keys.filter((_, i) => answers[i]?.status === 200);
        const refused = keys.filter((_, i) => answers[i]?.status === 503);
        expect(acknowledged.length + refused.length, 'every answer is 200 or 503').to.equal(keys.length);
        expect(refused.length, 'the failed batch was refused').to.be.greaterThan(0);
        for (const answer of answers.filter((item) => item.status === 503)) {
          expect(answer.json['code']).to.equal('STORAGE_UNAVAILABLE');
          expect(answer.headers.get('retry-after')).to.match(/^\d+$/);
        }
        // Writes are served again once the journal recovered (the breaker's trial runs recover()).
        let served = false;
        for (let i = 0; i < 50 && !served; i++) {
          const retry = await server.request('POST', '/v1/locations/W1/stock/EIO/adjustments', {
            body: { delta: 1, reason: 'receipt' },
            idempotencyKey: `${fault}-after-${i}`,
          });
          if (retry.status === 200) {
            acknowledged.push(`${fault}-after-${i}`);
            served = true;
          } else await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(served, 'writes served again').to.equal(true);

        await server.crashAndRestart({ FAULT_INJECTION: '1' });
        const journaled = new Set(
          (await server.journal()).flatMap((record) => {
            const key = (record.meta?.['idempotency'] as { key?: string } | undefined)?.key;
            return key === undefined ? [] : [key.slice(key.indexOf(':') + 1)];
          }),
        );
        for (const key of acknowledged)
          expect(journaled.has(key), `acknowledged ${key} is durable`).to.equal(true);
        for (const key of refused)
          expect(journaled.has(key), `refused ${key} never resurfaces`).to.equal(false);
        const level = await server.request('GET', '/v1/locations/W1/stock/EIO', { as: 'reader' });
        const adjusted = [...journaled].filter((key) => key.startsWith('failNext')).length;
        expect(level.json['onHand'], 'on-hand counts exactly the durable adjustments').to.equal(adjusted);
      });
    }
  });
});
