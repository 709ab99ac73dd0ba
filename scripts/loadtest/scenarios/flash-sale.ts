// flash-sale: one SKU everybody wants.
//   1. sustained: `--connections` clients run the reserve-spread cycle (hold 1 unit, then confirm or
//      cancel) on ONE SKU with plenty of stock, for the measured time: throughput on a hot actor,
//      to set against reserve-spread's.
//   2. burst: `--flash-clients` clients each send one reservation of 1 unit at the same moment for
//      a SKU with `--flash-stock` units. Exactly that many must win (201), every other client must be
//      answered 409 STOCK_INSUFFICIENT, quickly; nobody may win a unit that does not exist.
import { ApiClient, prng } from '../client.js';
import type { Check } from '../invariants.js';
import { ReservationLedger } from '../ledger.js';
import type { Scenario } from '../scenario.js';
import { measure } from '../scenario.js';
import { seedStock } from '../seed.js';
import { CONFIRM_SHARE, verifyReservations } from './reserve-spread.js';
import { reserveCycleSteps } from './steps.js';

const HOT_STOCK = 10_000_000;
const FLASH_LOCATION = 'LT-W1';

export const flashSale: Scenario = async (context) => {
  const { options, runId, progress, admin } = context;
  const hot = `fs${runId}-hot`;
  const burstSku = `fs${runId}-burst`;
  const seeded = new Map<string, number>();
  progress(
    `flash-sale: seeding ${hot} (${HOT_STOCK.toLocaleString('en-US')} units) and ${burstSku} (${options.flashStock} units)`,
  );
  await seedStock(
    admin,
    runId,
    FLASH_LOCATION,
    [
      { sku: hot, onHand: HOT_STOCK },
      { sku: burstSku, onHand: options.flashStock },
    ],
    seeded,
  );
  const ledger = new ReservationLedger();
  const sustained = await measure(context, {
    label: 'flash-sale sustained (one SKU)',
    key: 'shop',
    connections: options.connections,
    seconds: options.duration,
    script: (connection) => {
      const random = prng(options.seed * 15_485_863 + connection);
      return reserveCycleSteps({
        ledger,
        keyPrefix: `${runId}-fh-${connection}`,
        pickSku: () => hot,
        quantity: () => 1,
        random,
        confirmShare: CONFIRM_SHARE,
      });
    },
  });

  // Each burst client opens its connection with GET /healthz, then sends its one reservation: the
  // reservation's latency is the engine's answer, not the TCP handshake. Thousands of simultaneous
  // connects overflow the listen backlog (Node's default is 511), which the `connect` step shows.
  const burst = await measure(context, {
    label: `flash-sale burst (${options.flashClients} clients, ${options.flashStock} units)`,
    key: 'shop',
    connections: options.flashClients,
    amount: options.flashClients * 2,
    timeoutSeconds: 30,
    script: (connection) => [
      { build: () => ({ kind: 'connect', method: 'GET', path: '/healthz' }) },
      ...reserveCycleSteps({
        ledger,
        keyPrefix: `${runId}-fb-${connection}`,
        pickSku: () => burstSku,
        quantity: () => 1,
        random: () => 0,
        confirmShare: 0,
        kind: 'flash-reserve',
      }).slice(0, 1),
    ],
  });
  const answers = burst.byKind['flash-reserve'];
  const winners = answers?.statuses['201'] ?? 0;
  const losers = answers?.statuses['409'] ?? 0;
  const others = (answers?.requests ?? 0) - winners - losers + burst.errors;
  const connect = burst.byKind['connect'];
  const expectedWinners = Math.min(options.flashStock, options.flashClients);
  const loserLatency = answers?.latencyByStatus['409'];
  const winnerLatency = answers?.latencyByStatus['201'];

  progress('flash-sale: checking invariants');
  await ledger.recoverPending(new ApiClient(context.target.url, context.target.shopKey));
  const burstReservations = ledger.countWithSku(burstSku);
  const checks: Check[] = [
    {
      name: 'flash: winners <= stock',
      ok: winners <= options.flashStock && burstReservations <= options.flashStock,
      detail: `${winners} answered 201 (${burstReservations} reservations after resending lost answers) for ${options.flashStock} units`,
    },
    {
      name: 'flash: every unit sold, every loser told 409',
      ok: winners === expectedWinners && losers === options.flashClients - expectedWinners && others === 0,
      detail: `${winners} x 201, ${losers} x 409, ${others} other answers or errors of ${options.flashClients} clients`,
    },
  ];
  const invariants = await verifyReservations(context, ledger, [hot, burstSku], seeded, { checks });
  const reserve = sustained.byKind['reserve'];
  return {
    name: 'flash-sale',
    description: `one SKU: sustained reserve/confirm/cancel cycle at ${options.connections} connections, then ${options.flashClients} simultaneous clients for ${options.flashStock} units`,
    phases: [sustained, burst],
    figures: {
      sustainedRequestsPerSecond: sustained.requestsPerSecond,
      sustainedReservationsPerSecond: reserve
        ? Math.round((reserve.statuses['201'] ?? 0) / sustained.seconds)
        : 0,
      sustainedP99Ms: sustained.latency.p99Ms,
      burstWinners: winners,
      burstLosers: losers,
      burstOtherAnswers: others,
      burstSeconds: burst.seconds,
      loserP50Ms: loserLatency?.p50Ms ?? null,
      loserP99Ms: loserLatency?.p99Ms ?? null,
      loserMaxMs: loserLatency?.maxMs ?? null,
      winnerP99Ms: winnerLatency?.p99Ms ?? null,
      connectP50Ms: connect?.latency.p50Ms ?? null,
      connectP99Ms: connect?.latency.p99Ms ?? null,
      connectMaxMs: connect?.latency.maxMs ?? null,
    },
    invariants,
    notes: [
      `burst: ${options.flashClients} clients connect at once, each answered GET /healthz first (connect: p50 ${connect?.latency.p50Ms ?? 'n/a'} ms, p99 ${connect?.latency.p99Ms ?? 'n/a'} ms, TCP set-up included), then sends its reservation; loser and winner latencies are the reservation's alone. The burst took ${burst.seconds} s from the first connect to the last answer.`,
    ],
  };
};
