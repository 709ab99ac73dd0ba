// Stock levels: the storefront's view of a SKU, batch reads, one level with its ETag, absolute counts
// under If-Match, relative adjustments, the movement ledger, and back-office batch writes.
// Reads answer from the engine's memory and never wait on storage.
import { InventoryError } from '../../engine/errors.js';
import type { StockLevelView } from '../../engine/types.js';
import { access, actorOf } from '../auth.js';
import type { Principal } from '../context.js';
import type { InventoryEngine } from '../engine-port.js';
import { ApiError } from '../problem.js';
import { defineRoute, etagOf, replayHeaders, respond } from '../route.js';
import type { Route } from '../route.js';
import type {
  AdjustmentBody,
  CountBody,
  LevelQuery,
  PageQuery,
  SkuParams,
  StockBatchBody,
  StockBatchReadQuery,
  StockParams,
} from '../schemas.js';
import { applyStockBatch } from '../stock-batch.js';
import { validationError } from '../validation.js';
import type { RouteDeps } from './deps.js';
import { problems, readProblems, writeProblems } from './deps.js';
import { counted } from './outcomes.js';

export interface StorefrontStock {
  readonly sku: string;
  readonly totals: { onHand: number; reserved: number; safetyStock: number; available: number };
  readonly locations: StockLevelView[];
}

/** One SKU across every location that has a level for it, with totals. */
export async function storefrontView(engine: InventoryEngine, sku: string): Promise<StorefrontStock> {
  const locations = [...(await engine.levelsOf(sku))].sort((a, b) =>
    a.locationId < b.locationId ? -1 : a.locationId > b.locationId ? 1 : 0,
  );
  const totals = { onHand: 0, reserved: 0, safetyStock: 0, available: 0 };
  for (const level of locations) {
    totals.onHand += level.onHand;
    totals.reserved += level.reserved;
    totals.safetyStock += level.safetyStock;
    totals.available += level.available;
  }
  return { sku, totals, locations };
}

const requireLocation = async (engine: InventoryEngine, locationId: string): Promise<void> => {
  if (!(await engine.location(locationId))) {
    throw new InventoryError('LOCATION_NOT_FOUND', `location ${locationId} is not registered`, {
      locationId,
    });
  }
};

const levelNotFound = (sku: string, locationId: string, at?: string): InventoryError =>
  new InventoryError(
    'STOCK_LEVEL_NOT_FOUND',
    at === undefined
      ? `no stock level for ${sku} at ${locationId}`
      : `no stock level for ${sku} at ${locationId} as of ${at}`,
    { sku, locationId, ...(at === undefined ? {} : { at }) },
  );

const ENTITY_TAG = /^\s*"(\d{1,15})"\s*$/;

/**
 * The version a count must find, from If-Match (`"<version>"`) or If-None-Match: * (the level must
 * not exist yet, version 0). Without either, 428 with the current version and quantities.
 */
function expectedVersionOf(
  ifMatch: string | undefined,
  ifNoneMatch: string | undefined,
  current: StockLevelView | undefined,
): number {
  if (ifMatch !== undefined) {
    const match = ENTITY_TAG.exec(ifMatch);
    if (!match?.[1]) {
      throw validationError([
        {
          in: 'header',
          path: 'If-Match',
          message: 'must be one strong entity tag, the ETag of the level, such as "12"',
        },
      ]);
    }
    return Number(match[1]);
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') {
      throw validationError([
        {
          in: 'header',
          path: 'If-None-Match',
          message: 'only * (create a level that does not exist) is supported',
        },
      ]);
    }
    return 0;
  }
  const version = current?.version ?? 0;
  throw new ApiError(
    'PRECONDITION_REQUIRED',
    `Send If-Match: "${version}" (the level's ETag) so a count cannot overwrite changes you have not seen`,
    {
      details: {
        currentVersion: version,
        onHand: current?.onHand ?? 0,
        reserved: current?.reserved ?? 0,
        safetyStock: current?.safetyStock ?? 0,
        available: current?.available ?? 0,
      },
      headers: { ETag: etagOf(version) },
    },
  );
}

const by = (principal: Principal | undefined): string => (principal ? actorOf(principal) : 'anonymous');

export function stockRoutes({ engine, metrics }: RouteDeps): Route[] {
  const recordCommand = (command: string) => (outcome: string) =>
    metrics.stockCommands.inc({ command, outcome });
  return [
    defineRoute<SkuParams>({
      operationId: 'getStorefrontStock',
      method: 'get',
      path: '/v1/stock/{sku}',
      summary: 'Storefront view of one SKU: totals and each location',
      description:
        'A SKU no location has stock records for answers 200 with zero totals and no locations: nothing can be promised.',
      tag: 'Stock',
      access: access.read,
      params: 'SkuParams',
      responses: {
        200: { description: 'The SKU across locations', schema: 'StorefrontStock' },
        ...readProblems,
      },
      handle: async ({ params }, _req, res) => respond(res, 200, await storefrontView(engine, params.sku)),
    }),
    defineRoute<Record<string, never>, StockBatchReadQuery>({
      operationId: 'getStockBatch',
      method: 'get',
      path: '/v1/stock',
      summary: 'Storefront view of many SKUs at once',
      description: 'skus: comma-separated, at most 100; duplicates are answered once, in first-seen order.',
      tag: 'Stock',
      access: access.read,
      query: 'StockBatchReadQuery',
      responses: { 200: { description: 'One view per SKU', schema: 'StockBatchRead' }, ...readProblems },
      handle: async ({ query }, _req, res) => {
        const skus = [...new Set(query.skus.split(','))];
        respond(res, 200, { items: await Promise.all(skus.map((sku) => storefrontView(engine, sku))) });
      },
    }),
    defineRoute<StockParams, LevelQuery>({
      operationId: 'getStockLevel',
      method: 'get',
      path: '/v1/locations/{locationId}/stock/{sku}',
      summary: 'One stock level, with its ETag; or, with ?at=, the level as it was then',
      tag: 'Stock',
      access: access.read,
      params: 'StockParams',
      query: 'LevelQuery',
      responses: {
        200: { description: 'The level', schema: 'StockLevel', headers: ['ETag'] },
        404: problems[404],
        ...readProblems,
      },
      handle: async ({ params, query }, _req, res) => {
        await requireLocation(engine, params.locationId);
        const level =
          query.at === undefined
            ? await engine.level(params.sku, params.locationId)
            : await engine.levelAt(params.sku, params.locationId, query.at);
        if (!level) throw levelNotFound(params.sku, params.locationId, query.at);
        respond(res, 200, level, { ETag: etagOf(level.version) });
      },
    }),
    defineRoute<StockParams, Record<string, never>, CountBody>({
      operationId: 'putStockCount',
      method: 'put',
      path: '/v1/locations/{locationId}/stock/{sku}',
      summary: 'Record a physical count (absolute on-hand), under If-Match',
      description:
        'If-Match must carry the ETag of the level as read (412 when it changed since, 428 when missing); If-None-Match: * creates a level that does not exist yet.',
      tag: 'Stock',
      access: access.locationStock,
      params: 'StockParams',
      body: 'CountBody',
      idempotency: 'optional',
      headers: [
        { name: 'If-Match', description: 'ETag of the level as read, such as "12"', pattern: '^"[0-9]+"$' },
        { name: 'If-None-Match', description: '* to create a level that does not exist yet' },
      ],
      responses: {
        200: { description: 'The level after the count', schema: 'StockLevel', headers: ['ETag'] },
        404: problems[404],
        409: problems[409],
        412: problems[412],
        428: problems[428],
        ...writeProblems,
      },
      handle: async ({ params, body, principal, idempotency }, req, res) => {
        await requireLocation(engine, params.locationId);
        const expectedVersion = expectedVersionOf(
          req.get('if-match'),
          req.get('if-none-match'),
          await engine.level(params.sku, params.locationId),
        );
        const result = await counted(recordCommand('count'), () =>
          engine.execute(
            params.sku,
            params.locationId,
            {
              type: 'count',
              onHand: body.onHand,
              safetyStock: body.safetyStock,
              expectedVersion,
              by: by(principal),
            },
            idempotency,
          ),
        );
        respond(res, 200, result.level, {
          ETag: etagOf(result.level.version),
          ...replayHeaders(result.replayed),
        });
      },
    }),
    defineRoute<StockParams, Record<string, never>, AdjustmentBody>({
      operationId: 'postStockAdjustment',
      method: 'post',
      path: '/v1/locations/{locationId}/stock/{sku}/adjustments',
      summary: 'Change on-hand stock by a delta, with a reason',
      description:
        'Deltas commute, so no precondition is needed; expectedVersion makes it conditional (412 when stale). On-hand never goes below zero through this endpoint (409 STOCK_NEGATIVE).',
      tag: 'Stock',
      access: access.locationStock,
      params: 'StockParams',
      body: 'AdjustmentBody',
      idempotency: 'required',
      responses: {
        200: {
          description: 'The level after the change, and the events recorded',
          schema: 'AdjustmentResult',
          headers: ['ETag'],
        },
        404: problems[404],
        409: problems[409],
        412: problems[412],
        ...writeProblems,
      },
      handle: async ({ params, body, principal, idempotency }, _req, res) => {
        const result = await counted(recordCommand('adjust'), () =>
          engine.execute(
            params.sku,
            params.locationId,
            {
              type: 'adjust',
              delta: body.delta,
              reason: body.reason,
              reference: body.reference,
              expectedVersion: body.expectedVersion,
              by: by(principal),
            },
            idempotency,
          ),
        );
        respond(
          res,
          200,
          { level: result.level, events: result.events },
          { ETag: etagOf(result.level.version), ...replayHeaders(result.replayed) },
        );
      },
    }),
    defineRoute<StockParams, PageQuery>({
      operationId: 'getStockHistory',
      method: 'get',
      path: '/v1/locations/{locationId}/stock/{sku}/history',
      summary: 'The movement ledger of one stock level, oldest first, cursor-paginated',
      description:
        'Every event of the level with its reason, reference, actor (`by`), source and time. Pass `next` as `after` for the following page.',
      tag: 'Stock',
      access: access.read,
      params: 'StockParams',
      query: 'PageQuery',
      responses: {
        200: { description: 'A page of the ledger', schema: 'FeedPage' },
        404: problems[404],
        ...readProblems,
      },
      handle: async ({ params, query }, _req, res) => {
        await requireLocation(engine, params.locationId);
        const page = await engine.history(params.sku, params.locationId, {
          ...(query.after === undefined ? {} : { after: query.after }),
          limit: query.limit,
        });
        respond(res, 200, { items: page.items, next: page.next });
      },
    }),
    defineRoute<{ locationId: string }, Record<string, never>, StockBatchBody>({
      operationId: 'postStockBatch',
      method: 'post',
      path: '/v1/locations/{locationId}/stock:batch',
      summary: 'Counts or adjustments of many SKUs at one location (at most 500 rows)',
      description:
        "policy all_or_nothing (default): rows are checked first and a failing row applies none (409 BATCH_REJECTED with every row); a failure while applying rolls back the rows already applied with correcting events. policy per_row: each row stands alone (200 with each row's outcome). Counts in a batch need no If-Match; give expectedVersion per row to make them conditional.",
      tag: 'Stock',
      access: access.locationStock,
      params: 'LocationParams',
      body: 'StockBatchBody',
      idempotency: 'required',
      responses: {
        200: { description: "Each row's outcome", schema: 'StockBatchResult' },
        404: problems[404],
        409: {
          description: 'all_or_nothing: a row failed, nothing applied (BATCH_REJECTED, with rows)',
          schema: 'Problem',
        },
        ...writeProblems,
      },
      handle: async ({ params, body, principal, idempotency }, _req, res) => {
        const { answer, replayed } = await applyStockBatch(engine, params.locationId, body, {
          by: by(principal),
          idempotency,
          onCommand: (command, outcome) => metrics.stockCommands.inc({ command, outcome }),
        });
        respond(res, 200, answer, replayHeaders(replayed));
      },
    }),
  ];
}
