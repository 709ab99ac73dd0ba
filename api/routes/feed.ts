// The changes feed (pull, cursor-paginated, for pollers and consumers recovering after downtime) and
// the live stream (push, SSE, resumable with Last-Event-ID). Both carry the same items, with the
// same ids, so a consumer can move between them without losing its place.
import { access } from '../auth.js';
import { defineRoute, respond } from '../route.js';
import type { Route } from '../route.js';
import type { PageQuery, StreamQuery } from '../schemas.js';
import { CURSOR_PATTERN } from '../schemas.js';
import { validationError } from '../validation.js';
import type { RouteDeps } from './deps.js';
import { readProblems } from './deps.js';

const CURSOR = new RegExp(CURSOR_PATTERN);
const cursorExpired = {
  description:
    'CURSOR_EXPIRED: the cursor is older than the retained journal; resync, then follow from the end',
  schema: 'Problem',
} as const;
const setOf = (list: string | undefined): Set<string> | undefined =>
  list === undefined ? undefined : new Set(list.split(','));

export function feedRoutes({ engine, streams }: RouteDeps): Route[] {
  return [
    defineRoute<Record<string, never>, PageQuery>({
      operationId: 'getEvents',
      method: 'get',
      path: '/v1/events',
      summary: 'The changes feed: every committed event in order, cursor-paginated',
      description:
        'Start without `after` (from the beginning) or with the id of the last item you processed, and always continue with `after=<next>`: `next` is the id of the last item returned, or your own cursor when nothing new has been committed (poll again later with it). A cursor older than the retained journal answers 410 CURSOR_EXPIRED: resync from the stock endpoints, then follow the feed from its end.',
      tag: 'Changes',
      access: access.read,
      query: 'PageQuery',
      responses: {
        200: { description: 'A page of the feed', schema: 'FeedPage' },
        410: cursorExpired,
        ...readProblems,
      },
      handle: async ({ query }, _req, res) => {
        const page = await engine.readFeed(query.after, query.limit);
        respond(res, 200, { items: page.items, next: page.next }, { 'Cache-Control': 'no-store' });
      },
    }),
    defineRoute<Record<string, never>, StreamQuery>({
      operationId: 'getStream',
      method: 'get',
      path: '/v1/stream',
      summary: 'Live stock changes as Server-Sent Events, resumable',
      description:
        "Each message has `id` (the feed cursor) and `data` (a FeedItem as JSON). Filter with locationId and sku (comma-separated; with a filter only stock changes are sent). On reconnect the browser sends Last-Event-ID and the stream resumes right after it, with nothing lost or repeated; `after` does the same for a first connection. Comment lines are heartbeats. Each stock change carries its level's gap-free `version`: a consumer that sees a jump re-reads the level.",
      tag: 'Changes',
      access: access.read,
      query: 'StreamQuery',
      headers: [
        {
          name: 'Last-Event-ID',
          description: 'Resume after this item id (sent by EventSource on reconnect)',
          pattern: CURSOR_PATTERN,
        },
      ],
      streaming: true,
      responses: {
        200: { description: 'An event stream', contentType: 'text/event-stream' },
        410: cursorExpired,
        ...readProblems,
      },
      handle: async ({ query }, req, res) => {
        const lastEventId = req.get('last-event-id');
        if (lastEventId !== undefined && lastEventId !== '' && !CURSOR.test(lastEventId)) {
          throw validationError([
            { in: 'header', path: 'Last-Event-ID', message: `must match ${CURSOR_PATTERN}` },
          ]);
        }
        const cursor = lastEventId !== undefined && lastEventId !== '' ? lastEventId : query.after;
        await streams.open(req, res, { skus: setOf(query.sku), locations: setOf(query.locationId) }, cursor);
      },
    }),
  ];
}
