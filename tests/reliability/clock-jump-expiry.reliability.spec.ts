// Promise: no reservation expires before its deadline when the engine's wall clock jumps backward or
// forward by 10 minutes; the expiry decision is journaled with its time, and a replay (or a restart)
// takes the journaled decision as it is instead of evaluating the deadline again.
// The real server runs with FAULT_INJECTION=1 (api/fault-injection.ts) so the harness can move its clock.
//
// Guards against: expiry computed from a clock reading that ran ahead of the hold's own deadline; a
// worker that expires everything after a backward jump corrects itself; a replay or restart that
// re-evaluates deadlines against today's clock and changes history.
import { expect } from 'chai';
import type { ReservationEvent } from '../../engine/domain/reservation.js';
import { Projection } from '../../engine/projection.js';
import { sleep } from './harness/rng.js';
import { TestServer, seedStock } from './harness/server.js';

const MINUTE = 60_000;

describe('reliability: clock jumps and reservation expiry (real server, FAULT_INJECTION=1)', function () {
  this.timeout(60_000);
  const server = new TestServer({ FAULT_INJECTION: '1', MAX_TTL_SECONDS: '7200' });
  before(() => server.start());
  after(() => server.close());

  const hold = async (ttlSeconds: number, tag: string) => {
    const result = await server.request('POST', '/v1/reservations', {
      as: 'storefront',
      body: { lines: [{ sku: 'JUMP', quantity: 1, locationId: 'W1' }], ttlSeconds },
      idempotencyKey: `jump-${tag}`,
    });
    expect(result.status, result.text).to.equal(201);
    return {
      id: String(result.json['id']),
      expiresAt: Date.parse(String(result.json['expiresAt'])),
      ttlSeconds,
    };
  };
  const statusOf = async (id: string) =>
    String((await server.request('GET', `/v1/reservations/${id}`, { as: 'reader' })).json['status']);
  /** The engine's own time, read back from a write it stamps (the fault route answers its offset). */
  const engineOffset = async () => Number((await server.faults({})).json['clockOffsetMs']);

  it('expires each hold only once its own deadline has passed in engine time, whatever the jumps', async () => {
    await seedStock(
      server,
      [{ sku: 'JUMP', locationId: 'W1', onHand: 50 }],
      [{ id: 'W1', type: 'warehouse' }],
    );
    const short = await hold(3, 'short'); // 3 s
    const mid = await hold(15 * 60, 'mid'); // 15 min
    const long = await hold(40 * 60, 'long'); // 40 min

    // Backward 10 min: the short hold's deadline passes on the wall clock, not in engine time.
    await server.faults({ clockOffsetMs: -10 * MINUTE });
    expect(await engineOffset()).to.equal(-10 * MINUTE);
    await sleep(short.expiresAt + 1_500 - Date.now());
    for (const held of [short, mid, long])
      expect(await statusOf(held.id), `${held.ttlSeconds} s hold after a backward jump`).to.equal('held');

    // Forward to +10 min: the short hold's deadline has passed in engine time, the others' have not.
    await server.faults({ clockOffsetMs: 10 * MINUTE });
    const confirmShort = await server.request('POST', `/v1/reservations/${short.id}/confirm`, {
      as: 'storefront',
      idempotencyKey: 'jump-confirm-short',
    });
    expect(
      confirmShort.status,
      'a confirm after the deadline is refused, even before the worker runs',
    ).to.equal(409);
    expect(confirmShort.json['code']).to.equal('RESERVATION_EXPIRED');
    await sleep(1_000); // the expiry worker runs every 250 ms
    expect(await statusOf(short.id)).to.equal('expired');
    expect(await statusOf(mid.id), '15 min hold, 10 min jump').to.equal('held');
    expect(await statusOf(long.id), '40 min hold, 10 min jump').to.equal('held');

    // Back to the true time, then forward again by 10 min: the mid hold (15 min) still does not expire.
    await server.faults({ clockOffsetMs: 0 });
    await server.faults({ clockOffsetMs: 10 * MINUTE });
    await sleep(800);
    expect(await statusOf(mid.id)).to.equal('held');
    const confirmMid = await server.request('POST', `/v1/reservations/${mid.id}/confirm`, {
      as: 'storefront',
      idempotencyKey: 'jump-confirm-mid',
    });
    expect(confirmMid.status, confirmMid.text).to.equal(200);

    // Every expiry decision in the journal is at or after its own deadline, in the engine's time.
    const journal = await server.journal();
    const deadlines = new Map<string, number>();
    const expiries: { id: string; at: number }[] = [];
    for (const record of journal) {
      if (!record.stream.startsWith('reservation/')) continue;
      const id = record.stream.slice('reservation/'.length);
      for (const event of record.events as readonly ReservationEvent[]) {
        if ('expiresAt' in event) deadlines.set(id, Date.parse(event.expiresAt));
        if (event.type === 'ReservationExpired') expiries.push({ id, at: Date.parse(event.at) });
      }
    }
    expect(expiries.map((expiry) => expiry.id)).to.deep.equal([short.id]);
    for (const expiry of expiries) expect(expiry.at).to.be.at.least(deadlines.get(expiry.id) as number);

    // A restart (clock back to true time: the long hold's deadline is 40 min away) and a replay keep the
    // journaled decisions: the expired hold stays expired, the held one stays held.
    await server.crashAndRestart({ FAULT_INJECTION: '1' });
    expect(await statusOf(short.id)).to.equal('expired');
    expect(await statusOf(mid.id)).to.equal('confirmed');
    expect(await statusOf(long.id)).to.equal('held');
    const projection = new Projection();
    for (const record of await server.journal()) projection.apply(record);
    expect(projection.reservation(short.id)?.status).to.equal('expired');
    expect(projection.reservation(long.id)?.status).to.equal('held');
    const level = await server.request('GET', '/v1/locations/W1/stock/JUMP', { as: 'reader' });
    expect({ onHand: level.json['onHand'], reserved: level.json['reserved'] }).to.deep.equal({
      onHand: 49,
      reserved: 1,
    });
  });
});
