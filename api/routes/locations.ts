// Locations: stores, warehouses and online fulfilment centres, registered by an admin with PUT (the
// client names the resource, so a retried PUT is naturally idempotent).
import { InventoryError } from '../../engine/errors.js';
import { access } from '../auth.js';
import { defineRoute, etagOf, replayHeaders, respond } from '../route.js';
import type { Route } from '../route.js';
import type { LocationBody, LocationParams } from '../schemas.js';
import type { RouteDeps } from './deps.js';
import { problems, readProblems, writeProblems } from './deps.js';

export function locationRoutes({ engine }: RouteDeps): Route[] {
  return [
    defineRoute<LocationParams, Record<string, never>, LocationBody>({
      operationId: 'putLocation',
      method: 'put',
      path: '/v1/locations/{locationId}',
      summary: 'Register a location, or rename or retype it',
      description:
        'Creates the location (201) or updates its name and type (200). Putting an unchanged location changes nothing.',
      tag: 'Locations',
      access: access.admin,
      params: 'LocationParams',
      body: 'LocationBody',
      idempotency: 'optional',
      responses: {
        200: { description: 'Updated or unchanged', schema: 'Location', headers: ['ETag'] },
        201: { description: 'Registered', schema: 'Location', headers: ['ETag', 'Location'] },
        ...writeProblems,
      },
      handle: async ({ params, body, idempotency }, _req, res) => {
        const result = await engine.putLocation(params.locationId, body, idempotency);
        respond(res, result.created ? 201 : 200, result.location, {
          ETag: etagOf(result.location.version),
          ...(result.created ? { Location: `/v1/locations/${encodeURIComponent(result.location.id)}` } : {}),
          ...replayHeaders(result.replayed),
        });
      },
    }),
    defineRoute<LocationParams>({
      operationId: 'getLocation',
      method: 'get',
      path: '/v1/locations/{locationId}',
      summary: 'Read one location',
      tag: 'Locations',
      access: access.read,
      params: 'LocationParams',
      responses: {
        200: { description: 'The location', schema: 'Location', headers: ['ETag'] },
        404: problems[404],
        ...readProblems,
      },
      handle: async ({ params }, _req, res) => {
        const location = await engine.location(params.locationId);
        if (!location) {
          throw new InventoryError('LOCATION_NOT_FOUND', `location ${params.locationId} is not registered`, {
            locationId: params.locationId,
          });
        }
        respond(res, 200, location, { ETag: etagOf(location.version) });
      },
    }),
    defineRoute({
      operationId: 'listLocations',
      method: 'get',
      path: '/v1/locations',
      summary: 'List every registered location',
      tag: 'Locations',
      access: access.read,
      query: 'NoQuery',
      responses: { 200: { description: 'All locations, by id', schema: 'LocationList' }, ...readProblems },
      handle: async (_input, _req, res) => {
        const items = [...(await engine.locations())].sort((a, b) =>
          a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
        );
        respond(res, 200, { items });
      },
    }),
  ];
}
