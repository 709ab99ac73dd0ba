// Reservations over HTTP against the real engine and journal: hold (201 + Location), per-line
// shortfall (409), sourcing, partial fills, the lifecycle (payment-pending, extend, confirm, cancel,
// expiry), idempotent retries, and the last-units contention test.
//
// Guards against: overselling the last units when hundreds of carts race for them over HTTP; a
// retried reservation holding twice; confirming a reservation that has already expired.
import { expect } from 'chai';
import { ManualClock } from '../../../engine/clock.js';
import type { ApiHarness } from '../../support/api-harness.js';
import {
  expectProblem,
  expectSchema,
  registerLocations,
  setOnHand,
  startApi,
} from '../../support/api-harness.js';

interface Reservation {
  id: string;
  status: string;
  expiresAt: string;
  lines: { sku: string; locationId: string; quantity: number }[];
}

describe('api: reservations', function () {
  this.timeout(60_000);
  let api: ApiHarness;
  let clock: ManualClock;
  let keyCount = 0;
  const key = () => `k-${++keyCount}`;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    api = await startApi({
      clock,
      env: { DEFAULT_TTL_SECONDS: '600', MAX_TTL_SECONDS: '3600', PAYMENT_PENDING_TTL_SECONDS: '1800' },
    });
    await registerLocations(api);
  });
  afterEach(() => api.cleanup());

  const reserve = (body: unknown, as: 'storefront' | 'admin' = 'storefront') =>
    api.request('POST', '/v1/reservations', { as, body, idempotencyKey: key() });

  it('holds a cart: 201, Location, default TTL, StockReserved and ReservationPlaced journaled', async () => {
    await setOnHand(api, 'S1', 'TEE', 5);
    const response = await reserve({
      lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }],
      channel: 'web',
      reference: 'cart-9',
    });
    expect(response.status, response.text).to.equal(201);
    expectSchema(api, 'Reservation', response.json);
    const reservation = response.json as unknown as Reservation;
    expect(response.headers.get('location')).to.equal(`/v1/reservations/${reservation.id}`);
    expect(reservation).to.include({ status: 'held', channel: 'web', reference: 'cart-9' });
    expect(Date.parse(reservation.expiresAt) - clock.now()).to.equal(600_000);
    const records = await api.records();
    const types = records.flatMap((record) => record.events.map((event) => event.type));
    expect(types).to.include.members(['StockReserved', 'ReservationPlaced']);
    const read = await api.request('GET', `/v1/reservations/${reservation.id}`, { as: 'reader' });
    expect(read.status).to.equal(200);
    expect(read.json).to.deep.equal(response.json);
    expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({
      reserved: 2,
      available: 3,
    });
  });

  it('409 STOCK_INSUFFICIENT names each short line with requested and available; nothing stays held', async () => {
    await setOnHand(api, 'S1', 'TEE', 1);
    await setOnHand(api, 'S1', 'CAP', 5);
    const response = await reserve({
      lines: [
        { sku: 'CAP', quantity: 2, locationId: 'S1' },
        { sku: 'TEE', quantity: 2, locationId: 'S1' },
        { sku: 'TEE', quantity: 1, locationId: 'S1' },
      ],
    });
    expectProblem(api, response, 409, 'STOCK_INSUFFICIENT');
    expect(response.json.lines).to.deep.equal([{ sku: 'TEE', locationId: 'S1', requested: 3, available: 1 }]);
    expect((await api.request('GET', '/v1/locations/S1/stock/CAP')).json).to.include({
      reserved: 0,
      available: 5,
    });
  });

  it('sources a line without location from where most is available, and says where', async () => {
    await setOnHand(api, 'S1', 'TEE', 2);
    await setOnHand(api, 'W1', 'TEE', 50);
    const response = await reserve({ lines: [{ sku: 'TEE', quantity: 3 }] });
    expect(response.status, response.text).to.equal(201);
    expect((response.json as unknown as Reservation).lines).to.deep.equal([
      { sku: 'TEE', locationId: 'W1', quantity: 3 },
    ]);
  });

  it('allowPartial holds what is available', async () => {
    await setOnHand(api, 'S1', 'TEE', 2);
    const response = await reserve({
      lines: [{ sku: 'TEE', quantity: 5, locationId: 'S1' }],
      allowPartial: true,
    });
    expect(response.status, response.text).to.equal(201);
    expect((response.json as unknown as Reservation).lines[0]).to.include({ quantity: 2 });
  });

  it('refuses a TTL above the maximum, an empty cart and a zero quantity with 400', async () => {
    await setOnHand(api, 'S1', 'TEE', 2);
    const before = (await api.records()).length;
    expectProblem(
      api,
      await reserve({ lines: [{ sku: 'TEE', quantity: 1 }], ttlSeconds: 3601 }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(api, await reserve({ lines: [] }), 400, 'VALIDATION_FAILED');
    expectProblem(api, await reserve({ lines: [{ sku: 'TEE', quantity: 0 }] }), 400, 'VALIDATION_FAILED');
    expectProblem(
      api,
      await reserve({ lines: [{ sku: 'TEE', quantity: 1, locationId: 'NOPE' }] }),
      404,
      'LOCATION_NOT_FOUND',
    );
    expect(await api.records()).to.have.length(before);
  });

  it('payment-pending moves the expiry to its own TTL; extend sets a new expiry; confirm sells the units', async () => {
    await setOnHand(api, 'S1', 'TEE', 5);
    const held = (await reserve({ lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }] }))
      .json as unknown as Reservation;
    const extended = await api.request('POST', `/v1/reservations/${held.id}/extend`, {
      as: 'storefront',
      body: { ttlSeconds: 1200 },
      idempotencyKey: key(),
    });
    expect(extended.status, extended.text).to.equal(200);
    expect(Date.parse(String(extended.json.expiresAt)) - clock.now()).to.equal(1_200_000);
    const pending = await api.request('POST', `/v1/reservations/${held.id}/payment-pending`, {
      as: 'storefront',
      idempotencyKey: key(),
    });
    expect(pending.status, pending.text).to.equal(200);
    expect(pending.json).to.include({ status: 'payment_pending' });
    expect(Date.parse(String(pending.json.expiresAt)) - clock.now()).to.equal(1_800_000);
    const confirmed = await api.request('POST', `/v1/reservations/${held.id}/confirm`, {
      as: 'storefront',
      body: {},
      idempotencyKey: key(),
    });
    expect(confirmed.status, confirmed.text).to.equal(200);
    expectSchema(api, 'Reservation', confirmed.json);
    expect(confirmed.json).to.include({ status: 'confirmed' });
    expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({
      onHand: 3,
      reserved: 0,
    });
    const types = (await api.records()).flatMap((record) => record.events.map((event) => event.type));
    expect(types).to.include.members([
      'ReservationExtended',
      'ReservationPaymentPending',
      'ReservationConfirmed',
      'ReservationCommitted',
    ]);
    const cancelAfter = await api.request('POST', `/v1/reservations/${held.id}/cancel`, {
      as: 'storefront',
      idempotencyKey: key(),
    });
    expectProblem(api, cancelAfter, 409, 'RESERVATION_STATE_CONFLICT');
  });

  it('cancel releases the hold', async () => {
    await setOnHand(api, 'S1', 'TEE', 5);
    const held = (await reserve({ lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }] }))
      .json as unknown as Reservation;
    const cancelled = await api.request('POST', `/v1/reservations/${held.id}/cancel`, {
      as: 'storefront',
      idempotencyKey: key(),
    });
    expect(cancelled.status, cancelled.text).to.equal(200);
    expect(cancelled.json).to.include({ status: 'cancelled' });
    expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({
      reserved: 0,
      available: 5,
    });
  });

  it('confirm after expiry answers 409 RESERVATION_EXPIRED; extend after expiry too', async () => {
    await setOnHand(api, 'S1', 'TEE', 5);
    const held = (await reserve({ lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }], ttlSeconds: 60 }))
      .json as unknown as Reservation;
    clock.advance(61_000);
    const confirm = await api.request('POST', `/v1/reservations/${held.id}/confirm`, {
      as: 'storefront',
      idempotencyKey: key(),
    });
    expectProblem(api, confirm, 409, 'RESERVATION_EXPIRED');
    const extend = await api.request('POST', `/v1/reservations/${held.id}/extend`, {
      as: 'storefront',
      body: { ttlSeconds: 60 },
      idempotencyKey: key(),
    });
    expectProblem(api, extend, 409, 'RESERVATION_EXPIRED');
    await api.engine.expireDue();
    expect((await api.request('GET', `/v1/reservations/${held.id}`)).json).to.include({ status: 'expired' });
    expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({ reserved: 0 });
  });

  it('404 RESERVATION_NOT_FOUND for an unknown reservation, read or transition', async () => {
    expectProblem(api, await api.request('GET', '/v1/reservations/nope'), 404, 'RESERVATION_NOT_FOUND');
    expectProblem(
      api,
      await api.request('POST', '/v1/reservations/nope/confirm', { as: 'storefront', idempotencyKey: key() }),
      404,
      'RESERVATION_NOT_FOUND',
    );
  });

  it('a retried reservation (same key and body) holds once and answers the same 201 and body', async () => {
    await setOnHand(api, 'S1', 'TEE', 5);
    const body = { lines: [{ sku: 'TEE', quantity: 2, locationId: 'S1' }] };
    const first = await api.request('POST', '/v1/reservations', {
      as: 'storefront',
      body,
      idempotencyKey: 'cart-1',
    });
    const again = await api.request('POST', '/v1/reservations', {
      as: 'storefront',
      body,
      idempotencyKey: 'cart-1',
    });
    expect(first.status).to.equal(201);
    expect(again.status).to.equal(201);
    expect(again.json).to.deep.equal(first.json);
    expect(again.headers.get('location')).to.equal(first.headers.get('location'));
    expect((await api.request('GET', '/v1/locations/S1/stock/TEE')).json).to.include({ reserved: 2 });
    const other = await api.request('POST', '/v1/reservations', {
      as: 'storefront',
      body: { lines: [{ sku: 'TEE', quantity: 3, locationId: 'S1' }] },
      idempotencyKey: 'cart-1',
    });
    expectProblem(api, other, 422, 'IDEMPOTENCY_KEY_REUSED');
    const sameKeyOtherCaller = await api.request('POST', '/v1/reservations', {
      as: 'admin',
      body,
      idempotencyKey: 'cart-1',
    });
    expect(sameKeyOtherCaller.status).to.equal(201);
    expect(sameKeyOtherCaller.json.id).to.not.equal(first.json.id);
  });

  it('300 concurrent carts for the last 40 units: exactly 40 win, none oversold, every loser told why', async () => {
    await setOnHand(api, 'S1', 'LAST', 40);
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        api.request('POST', '/v1/reservations', {
          as: 'storefront',
          body: { lines: [{ sku: 'LAST', quantity: 1, locationId: 'S1' }] },
          idempotencyKey: `race-${i}`,
        }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).to.have.length(40);
    expect(statuses.filter((status) => status === 409)).to.have.length(260);
    for (const response of responses.filter((r) => r.status === 409)) {
      expect(response.json.code).to.equal('STOCK_INSUFFICIENT');
    }
    const level = await api.request('GET', '/v1/locations/S1/stock/LAST');
    expect(level.json).to.include({ onHand: 40, reserved: 40, available: 0 });
    const holds = (await api.records())
      .flatMap((record) => record.events)
      .filter((event) => event.type === 'StockReserved');
    expect(holds).to.have.length(40);
  });

  it('200 concurrent two-line carts over two SKUs never half-hold nor oversell', async () => {
    await setOnHand(api, 'S1', 'X', 30);
    await setOnHand(api, 'S1', 'Y', 50);
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        api.request('POST', '/v1/reservations', {
          as: 'storefront',
          body: {
            lines: [
              { sku: 'X', quantity: 1, locationId: 'S1' },
              { sku: 'Y', quantity: 2, locationId: 'S1' },
            ],
          },
          idempotencyKey: `pair-${i}`,
        }),
      ),
    );
    const won = responses.filter((response) => response.status === 201).length;
    expect(won).to.equal(25);
    const x = (await api.request('GET', '/v1/locations/S1/stock/X')).json;
    const y = (await api.request('GET', '/v1/locations/S1/stock/Y')).json;
    expect(x).to.include({ reserved: won });
    expect(y).to.include({ reserved: 2 * won });
  });
});
