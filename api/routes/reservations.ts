// Reservations: a cart held all-or-nothing (or partially, when asked) across stock levels, then
// confirmed, cancelled, extended or marked payment-pending. State transitions are sub-resources
// taking POST, since each is an action with its own rules, not a field a client may set.
import { InventoryError } from '../../engine/errors.js';
import type { Idempotency, ReservationView } from '../../engine/types.js';
import { access } from '../auth.js';
import type { ReservationResult } from '../engine-port.js';
import { defineRoute, etagOf, replayHeaders, respond } from '../route.js';
import type { Route } from '../route.js';
import type { EmptyBody, ExtendBody, ReservationBody, ReservationParams } from '../schemas.js';
import type { RouteDeps } from './deps.js';
import { problems, readProblems, writeProblems } from './deps.js';
import { counted } from './outcomes.js';

export const reservationPath = (id: string): string => `/v1/reservations/${encodeURIComponent(id)}`;

const transitionResponses = {
  200: { description: 'The reservation after the transition', schema: 'Reservation' },
  404: problems[404],
  409: {
    description:
      'RESERVATION_EXPIRED after expiry, RESERVATION_STATE_CONFLICT when the status does not allow it',
    schema: 'Problem',
  },
  ...writeProblems,
} as const;

export function reservationRoutes({ engine, metrics, config }: RouteDeps): Route[] {
  const record = (operation: string) => (outcome: string) => metrics.reservations.inc({ operation, outcome });
  const reservationAnswer = (result: ReservationResult) => ({
    status: 200,
    body: result.reservation,
    headers: { ETag: etagOf(result.reservation.version), ...replayHeaders(result.replayed) },
  });

  const transition = (
    operationId: string,
    action: string,
    summary: string,
    operation: string,
    call: (id: string, idem: Idempotency | undefined) => Promise<ReservationResult>,
  ) =>
    defineRoute<ReservationParams, Record<string, never>, EmptyBody>({
      operationId,
      method: 'post',
      path: `/v1/reservations/{reservationId}/${action}`,
      summary,
      tag: 'Reservations',
      access: access.reservations,
      params: 'ReservationParams',
      body: 'EmptyBody',
      bodyOptional: true,
      idempotency: 'required',
      responses: transitionResponses,
      handle: async ({ params, idempotency }, _req, res) => {
        const result = await counted(record(operation), () => call(params.reservationId, idempotency));
        const answer = reservationAnswer(result);
        respond(res, answer.status, answer.body, answer.headers);
      },
    });

  return [
    defineRoute<Record<string, never>, Record<string, never>, ReservationBody>({
      operationId: 'createReservation',
      method: 'post',
      path: '/v1/reservations',
      summary: 'Hold a cart of lines for ttlSeconds',
      description: `All lines or none, unless allowPartial. A line without locationId is sourced by the engine (docs/api.md "Sourcing"); each line of the answer names the location serving it. Lines of the same SKU and location are summed before the check. ttlSeconds defaults to ${config.defaultTtlSeconds}, at most ${config.maxTtlSeconds}. 409 STOCK_INSUFFICIENT lists each short line (requested, available).`,
      tag: 'Reservations',
      access: access.reservations,
      body: 'ReservationBody',
      idempotency: 'required',
      responses: {
        201: { description: 'Held', schema: 'Reservation', headers: ['Location', 'ETag'] },
        404: problems[404],
        409: {
          description: 'STOCK_INSUFFICIENT, with lines[] of {sku, locationId, requested, available}',
          schema: 'Problem',
        },
        ...writeProblems,
      },
      handle: async ({ body, idempotency }, _req, res) => {
        const result = await counted(record('reserve'), () =>
          engine.reserve(
            {
              lines: body.lines,
              ttlSeconds: body.ttlSeconds,
              allowPartial: body.allowPartial,
              channel: body.channel,
              reference: body.reference,
            },
            idempotency,
          ),
        );
        respond(res, 201, result.reservation, {
          Location: reservationPath(result.reservation.id),
          ETag: etagOf(result.reservation.version),
          ...replayHeaders(result.replayed),
        });
      },
    }),
    defineRoute<ReservationParams>({
      operationId: 'getReservation',
      method: 'get',
      path: '/v1/reservations/{reservationId}',
      summary: 'Status, lines and expiry of a reservation',
      tag: 'Reservations',
      access: access.read,
      params: 'ReservationParams',
      responses: {
        200: { description: 'The reservation', schema: 'Reservation', headers: ['ETag'] },
        404: problems[404],
        ...readProblems,
      },
      handle: async ({ params }, _req, res) => {
        const reservation: ReservationView | undefined = await engine.reservation(params.reservationId);
        if (!reservation) {
          throw new InventoryError(
            'RESERVATION_NOT_FOUND',
            `reservation ${params.reservationId} does not exist`,
            {
              reservationId: params.reservationId,
            },
          );
        }
        respond(res, 200, reservation, { ETag: etagOf(reservation.version) });
      },
    }),
    transition('confirmReservation', 'confirm', 'Confirm: the held units are sold', 'confirm', (id, idem) =>
      engine.confirm(id, idem),
    ),
    transition('cancelReservation', 'cancel', 'Cancel: the held units are released', 'cancel', (id, idem) =>
      engine.cancel(id, idem),
    ),
    transition(
      'markReservationPaymentPending',
      'payment-pending',
      `Payment started: the hold moves to its payment-pending TTL (${config.paymentPendingTtlSeconds} s)`,
      'payment_pending',
      (id, idem) => engine.markPaymentPending(id, idem),
    ),
    defineRoute<ReservationParams, Record<string, never>, ExtendBody>({
      operationId: 'extendReservation',
      method: 'post',
      path: '/v1/reservations/{reservationId}/extend',
      summary: 'Extend a live hold: it now expires ttlSeconds from now',
      description: 'Refused once the reservation has expired (409 RESERVATION_EXPIRED).',
      tag: 'Reservations',
      access: access.reservations,
      params: 'ReservationParams',
      body: 'ExtendBody',
      idempotency: 'required',
      responses: transitionResponses,
      handle: async ({ params, body, idempotency }, _req, res) => {
        const result = await counted(record('extend'), () =>
          engine.extend(params.reservationId, body.ttlSeconds, idempotency),
        );
        const answer = reservationAnswer(result);
        respond(res, answer.status, answer.body, answer.headers);
      },
    }),
  ];
}
