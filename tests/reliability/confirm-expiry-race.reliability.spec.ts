// Promise: a confirm racing the expiry of its reservation, over HTTP against the real server process:
// exactly one of confirmed and expired wins, the winner is the one the deadline allows (a confirm at or
// after the deadline is refused even before the expiry worker runs), and the held stock is released or
// committed exactly once.
//
// Guards against: a confirm and an expiry both journaled; a confirmed reservation whose hold is also
// released (stock counted back while sold); a late confirm accepted because the expiry worker was slow.
import { expect } from 'chai';
import type { ReservationEvent } from '../../engine/domain/reservation.js';
import type { StockEvent } from '../../engine/domain/stock.js';
import { sleep } from './harness/rng.js';
import { TestServer, seedStock } from './harness/server.js';

const RESERVATIONS = 40;
const ON_HAND = 100;

describe('reliability: confirm racing expiry (HTTP, real server)', function () {
  this.timeout(60_000);
  const server = new TestServer();
  before(() => server.start());
  after(() => server.close());

  it('exactly one of confirmed and expired wins; stock is released or committed exactly once', async () => {
    await seedStock(
      server,
      [{ sku: 'RACE', locationId: 'W1', onHand: ON_HAND }],
      [{ id: 'W1', type: 'warehouse' }],
    );
    const held: { id: string; expiresAt: number }[] = [];
    for (let i = 0; i < RESERVATIONS; i++) {
      const result = await server.request('POST', '/v1/reservations', {
        as: 'storefront',
        body: { lines: [{ sku: 'RACE', quantity: 1, locationId: 'W1' }], ttlSeconds: 2 },
        idempotencyKey: `race-hold-${i}`,
      });
      expect(result.status, result.text).to.equal(201);
      held.push({ id: String(result.json['id']), expiresAt: Date.parse(String(result.json['expiresAt'])) });
    }

    // Two confirms per reservation, sent around its deadline: from 150 ms before to 150 ms after.
    const answers = new Map<string, { status: number; code: unknown; sentAt: number }[]>();
    await Promise.all(
      held.map(async ({ id, expiresAt }, i) => {
        const sendAt = expiresAt - 150 + Math.round((300 * i) / (RESERVATIONS - 1));
        await sleep(sendAt - Date.now());
        const sentAt = Date.now();
        const results = await Promise.all(
          [1, 2].map((n) =>
            server.request('POST', `/v1/reservations/${id}/confirm`, {
              as: 'storefront',
              idempotencyKey: `race-confirm-${i}-${n}`,
            }),
          ),
        );
        answers.set(
          id,
          results.map((result) => ({ status: result.status, code: result.json['code'], sentAt })),
        );
      }),
    );
    // Let the expiry worker (every 250 ms) decide the rest.
    await sleep(Math.max(...held.map((hold) => hold.expiresAt)) + 1_500 - Date.now());

    const journal = await server.journal();
    let confirmed = 0;
    let expired = 0;
    for (const { id, expiresAt } of held) {
      const view = await server.request('GET', `/v1/reservations/${id}`, { as: 'reader' });
      const status = view.json['status'];
      const decisions = journal
        .filter((record) => record.stream === `reservation/${id}`)
        .flatMap((record) => record.events as readonly ReservationEvent[])
        .filter((event) => event.type === 'ReservationConfirmed' || event.type === 'ReservationExpired');
      const stockSteps = journal
        .filter((record) => record.stream === 'stock/RACE/W1')
        .flatMap((record) => record.events as readonly StockEvent[])
        .filter(
          (event) =>
            (event.type === 'ReservationReleased' || event.type === 'ReservationCommitted') &&
            event.reservationId === id,
        );
      const oks = (answers.get(id) ?? []).filter((answer) => answer.status === 200).length;
      const label = `reservation ${id}: status ${String(status)}, answers ${JSON.stringify(answers.get(id))}`;
      expect(decisions, `${label}: one decision in the journal`).to.have.length(1);
      expect(stockSteps, `${label}: one stock step`).to.have.length(1);
      const decision = decisions[0] as ReservationEvent;
      // The decision obeys the deadline, in the engine's own time.
      if (decision.type === 'ReservationConfirmed') {
        confirmed++;
        expect(status, label).to.equal('confirmed');
        expect(Date.parse(decision.at), `${label}: confirmed before its deadline`).to.be.below(expiresAt);
        expect(stockSteps[0]?.type, label).to.equal('ReservationCommitted');
        expect(oks, `${label}: exactly one confirm accepted`).to.equal(1);
      } else {
        expired++;
        expect(status, label).to.equal('expired');
        expect(Date.parse(decision.at), `${label}: expired at or after its deadline`).to.be.at.least(
          expiresAt,
        );
        expect(stockSteps[0]?.type, label).to.equal('ReservationReleased');
        expect(oks, `${label}: no confirm accepted`).to.equal(0);
        for (const answer of answers.get(id) ?? [])
          expect(answer.code, label).to.be.oneOf(['RESERVATION_EXPIRED', 'RESERVATION_STATE_CONFLICT']);
      }
    }
    const level = await server.request('GET', '/v1/locations/W1/stock/RACE', { as: 'reader' });
    expect(level.json['onHand'], 'on-hand lost exactly the confirmed units').to.equal(ON_HAND - confirmed);
    expect(level.json['reserved'], 'nothing left held').to.equal(0);
    // The race was real: both outcomes happened around the deadline.
    expect(confirmed, 'some confirms won').to.be.greaterThan(0);
    expect(expired, 'some expiries won').to.be.greaterThan(0);
  });
});
