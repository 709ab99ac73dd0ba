// Store till events: an ordered, gap-free, idempotent batch from one store's agent. The store's own
// sequence numbers make delivery exactly-once: duplicates are acknowledged and skipped, a gap is
// answered with the sequence expected, so an agent can always resume from what the engine says.
import type { StoreEventInput } from '../../engine/types.js';
import { access } from '../auth.js';
import type { MaybePromise, StoreHeartbeatResult } from '../engine-port.js';
import { defineRoute, replayHeaders, respond } from '../route.js';
import type { Route } from '../route.js';
import type { StoreEventsBody, StoreParams } from '../schemas.js';
import type { RouteDeps } from './deps.js';
import { problems, readProblems, writeProblems } from './deps.js';
import { counted } from './outcomes.js';

export function storeRoutes({ engine, metrics }: RouteDeps): Route[] {
  return [
    defineRoute<StoreParams, Record<string, never>, StoreEventsBody>({
      operationId: 'postStoreEvents',
      method: 'post',
      path: '/v1/stores/{storeId}/events',
      summary: "Apply an ordered batch of a store's till events (at most 1000)",
      description:
        "Events carry the store's gap-free seq from 1. Already-applied seqs are counted as duplicates and not reapplied; a batch that does not start at or before the next expected seq is refused with 409 STORE_SEQUENCE_GAP naming expectedSeq. Sales are never refused (the goods are already sold): a sale that takes units held online flags those reservations at risk.",
      tag: 'Stores',
      access: access.storeEvents,
      params: 'StoreParams',
      body: 'StoreEventsBody',
      idempotency: 'required',
      responses: {
        200: {
          description: 'How many were applied and were duplicates, and the last seq',
          schema: 'StoreEventsResult',
        },
        404: problems[404],
        409: { description: 'STORE_SEQUENCE_GAP, with expectedSeq', schema: 'Problem' },
        ...writeProblems,
      },
      handle: async ({ params, body, idempotency }, _req, res) => {
        const events: StoreEventInput[] = body.events.map((event) => ({ ...event }));
        const result = await counted(
          (outcome) => metrics.storeEventBatches.inc({ outcome }),
          () => engine.applyStoreEvents(params.storeId, events, idempotency),
        );
        if (!result.replayed) {
          metrics.storeEvents.inc({ outcome: 'applied' }, result.applied);
          metrics.storeEvents.inc({ outcome: 'duplicate' }, result.duplicates);
          const firstApplied = result.lastSeq - result.applied;
          const now = await engine.clock.now();
          for (const event of events) {
            if (event.seq > firstApplied && event.seq <= result.lastSeq) {
              const occurred = Date.parse(event.occurredAt);
              if (Number.isFinite(occurred))
                metrics.storeEventLag.observe(Math.max(0, now - occurred) / 1000);
            }
          }
        }
        respond(
          res,
          200,
          { applied: result.applied, duplicates: result.duplicates, lastSeq: result.lastSeq },
          replayHeaders(result.replayed),
        );
      },
    }),
    defineRoute<StoreParams>({
      operationId: 'getStore',
      method: 'get',
      path: '/v1/stores/{storeId}',
      summary: 'The last seq applied from a store: where its agent resumes',
      tag: 'Stores',
      access: access.read,
      params: 'StoreParams',
      responses: { 200: { description: "The store's position", schema: 'StoreStatus' }, ...readProblems },
      handle: async ({ params }, _req, res) =>
        respond(res, 200, { storeId: params.storeId, lastSeq: await engine.lastStoreSeq(params.storeId) }),
    }),
    ...(hasHeartbeat(engine)
      ? [
          defineRoute<StoreParams>({
            operationId: 'postStoreHeartbeat',
            method: 'post',
            path: '/v1/stores/{storeId}/heartbeat',
            summary: "A store's agent says it is alive: the location's figures are not stale",
            description:
              "Agents send one every few seconds, even with nothing to forward. A store with neither events nor heartbeats for longer than `silentAfterMs` may be selling offline: its levels show `staleSince` and the engine withholds an offline buffer from online promises until the agent is back. Answers the store's last applied seq.",
            tag: 'Stores',
            access: access.storeEvents,
            params: 'StoreParams',
            responses: {
              200: { description: "The store's position and the silence threshold", schema: 'StoreStatus' },
              404: problems[404],
              ...readProblems,
              403: problems[403],
            },
            handle: async ({ params }, _req, res) =>
              respond(res, 200, await engine.heartbeat(params.storeId)),
          }),
        ]
      : []),
  ];
}

/** The store heartbeat is optional in the engine port (engine-port.ts): the route exists with it. */
interface StoreHeartbeat {
  heartbeat(storeId: string): MaybePromise<StoreHeartbeatResult>;
}

const hasHeartbeat = <E extends object>(engine: E): engine is E & StoreHeartbeat =>
  typeof (engine as Partial<StoreHeartbeat>).heartbeat === 'function';
