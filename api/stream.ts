// The live stream (Server-Sent Events) of every committed change, filtered per client by location
// and SKU. A client resuming with Last-Event-ID gets exactly what it missed, then live changes,
// with nothing lost and nothing repeated:
//
//   1. subscribe to live items first, buffering them;
//   2. read the changes feed from the client's cursor up to its end, sending each item;
//   3. send the buffered items that come after the last item sent, then switch to live delivery.
//
// Anything committed after step 1 is in the buffer, anything committed before it is in the feed,
// and the (seq, index) position removes the overlap. If the buffer grows too large while catching
// up, it is dropped and the feed is read again from the last item sent (the items are durable).
// A client that cannot keep up is disconnected; it resumes the same way.
import type { Request, Response } from 'express';
import type { Logger } from 'winston';
import type { FeedItem } from '../engine/types.js';
import type { FeedPage, InventoryEngine } from './engine-port.js';
import { whenResolved } from './engine-port.js';
import type { ApiMetrics } from './metrics.js';
import { ApiError } from './problem.js';

export interface StreamFilter {
  readonly skus?: ReadonlySet<string> | undefined;
  readonly locations?: ReadonlySet<string> | undefined;
}

export interface StreamOptions {
  readonly maxClients: number;
  readonly heartbeatMs: number;
  /** Bytes queued on a socket beyond which the client is too slow and is disconnected. */
  readonly maxQueuedBytes?: number;
  /** Live items kept while a client catches up before the buffer is dropped and the feed re-read. */
  readonly maxCatchUpBuffer?: number;
  readonly catchUpPage?: number;
}

/** (seq, index) of a feed item or cursor; a bare seq means "after all of that record". */
export type Position = readonly [number, number];

export function positionOf(cursor: string): Position | undefined {
  const match = /^(\d{1,15})(?:\.(\d{1,6}))?$/.exec(cursor);
  if (!match) return undefined;
  return [Number(match[1]), match[2] === undefined ? Number.POSITIVE_INFINITY : Number(match[2])];
}

export const cursorOf = (position: Position): string =>
  Number.isFinite(position[1]) ? `${position[0]}.${position[1]}` : String(position[0]);

const after = (a: Position, b: Position | undefined): boolean =>
  b === undefined || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** The (sku, locationId) of a stock item, from its level or its `stock/<sku>/<location>` stream. */
export function stockKeyOf(item: FeedItem): { sku: string; locationId: string } | undefined {
  if (item.level) return { sku: item.level.sku, locationId: item.level.locationId };
  const parts = item.stream.split('/');
  if (parts.length === 3 && parts[0] === 'stock' && parts[1] && parts[2]) {
    return { sku: parts[1], locationId: parts[2] };
  }
  return undefined;
}

/** Without a filter every item passes; with one, only stock items of the chosen SKUs and locations. */
export function matches(filter: StreamFilter, item: FeedItem): boolean {
  if (!filter.skus && !filter.locations) return true;
  const key = stockKeyOf(item);
  if (!key) return false;
  return (
    (!filter.skus || filter.skus.has(key.sku)) && (!filter.locations || filter.locations.has(key.locationId))
  );
}

/** One engine item goes to every subscriber: serialise it once, not once per subscriber. */
const serialised = new WeakMap<FeedItem, string>();
export const sseMessage = (item: FeedItem): string => {
  let message = serialised.get(item);
  if (message === undefined) {
    message = `id: ${item.id}\ndata: ${JSON.stringify(item)}\n\n`;
    serialised.set(item, message);
  }
  return message;
};

interface StreamClient {
  readonly res: Response;
  readonly filter: StreamFilter;
  live: boolean;
  buffer: FeedItem[];
  overflowed: boolean;
  last: Position | undefined;
  closed: boolean;
}

export class StreamHub {
  private readonly clients = new Set<StreamClient>();
  private unsubscribe: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly maxQueuedBytes: number;
  private readonly maxCatchUpBuffer: number;
  private readonly catchUpPage: number;

  constructor(
    private readonly engine: InventoryEngine,
    private readonly metrics: ApiMetrics,
    private readonly logger: Logger,
    private readonly options: StreamOptions,
  ) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1_048_576;
    this.maxCatchUpBuffer = options.maxCatchUpBuffer ?? 10_000;
    this.catchUpPage = options.catchUpPage ?? 500;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Refuses a new client beyond the limit, before any header is sent. */
  admit(): void {
    if (this.closing || this.clients.size >= this.options.maxClients) {
      this.metrics.shed.inc({ reason: 'sse_clients' });
      throw new ApiError(
        'TOO_MANY_STREAMS',
        this.closing
          ? 'The server is shutting down'
          : `At most ${this.options.maxClients} streams may be open`,
        { retryAfterSeconds: 5 },
      );
    }
  }

  /**
   * Serves one SSE client until it disconnects or the hub closes. The first page of a resume is read
   * before any header is sent, so a bad or expired cursor is still answered with a problem document.
   */
  async open(req: Request, res: Response, filter: StreamFilter, cursor: string | undefined): Promise<void> {
    this.admit();
    const client: StreamClient = {
      res,
      filter,
      live: cursor === undefined,
      buffer: [],
      overflowed: false,
      last: cursor === undefined ? undefined : positionOf(cursor),
      closed: false,
    };
    this.ensureSubscribed();
    this.clients.add(client);
    this.metrics.sseClients.set(this.clients.size);
    req.on('close', () => this.drop(client));
    // In an HTTP worker the subscription reaches the engine one IPC round trip later: wait for it,
    // so that what the client writes once it has seen the stream open is delivered on it.
    if (this.engine.subscribed) {
      try {
        await this.engine.subscribed();
      } catch (error) {
        this.drop(client);
        throw error;
      }
      if (client.closed) return;
    }

    let firstPage: FeedPage | undefined;
    if (cursor !== undefined) {
      try {
        firstPage = await this.engine.readFeed(cursor, this.catchUpPage);
      } catch (error) {
        this.drop(client);
        throw error;
      }
      if (client.closed) return;
    }

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(`retry: 2000\n: connected\n\n`);

    if (cursor !== undefined && firstPage) await this.catchUp(client, cursor, firstPage);
  }

  private async catchUp(client: StreamClient, from: string, firstPage: FeedPage): Promise<void> {
    let cursor = from;
    let page: FeedPage | undefined = firstPage;
    try {
      for (;;) {
        page ??= await this.engine.readFeed(cursor, this.catchUpPage);
        if (client.closed) return;
        for (const item of page.items) this.deliver(client, item, false);
        const lastItem = page.items[page.items.length - 1];
        if (lastItem) cursor = lastItem.id;
        const more = page.items.length > 0 && page.next !== null;
        page = undefined;
        if (more) continue;
        if (client.overflowed) {
          // Items dropped from the buffer are durable: read them from the feed.
          client.overflowed = false;
          client.buffer = [];
          if (client.last) cursor = cursorOf(client.last);
          continue;
        }
        break;
      }
      // Synchronous from here: no live item can slip between the buffer and live delivery.
      const buffered = client.buffer;
      client.buffer = [];
      client.live = true;
      for (const item of buffered) this.deliver(client, item, true);
    } catch (error) {
      this.logger.warn('stream catch-up failed; closing the stream so the client resumes', {
        error: error instanceof Error ? error.message : String(error),
      });
      this.end(client, 'catch_up_failed');
    }
  }

  private ensureSubscribed(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.engine.subscribe((item) => this.publish(item));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  private publish(item: FeedItem): void {
    for (const client of this.clients) {
      if (client.live) {
        this.deliver(client, item, true);
      } else if (!client.overflowed) {
        client.buffer.push(item);
        if (client.buffer.length > this.maxCatchUpBuffer) {
          client.overflowed = true;
          client.buffer = [];
        }
      }
    }
  }

  private deliver(client: StreamClient, item: FeedItem, live: boolean): void {
    if (client.closed) return;
    const position: Position = [item.seq, item.index];
    if (!after(position, client.last)) return;
    client.last = position;
    if (!matches(client.filter, item)) return;
    client.res.write(sseMessage(item));
    if (live) this.observePropagation(item);
    if (client.res.writableLength > this.maxQueuedBytes) this.end(client, 'slow');
  }

  private observePropagation(item: FeedItem): void {
    const source = (item.event as { source?: { occurredAt?: unknown } }).source;
    const occurredAt = typeof source?.occurredAt === 'string' ? source.occurredAt : undefined;
    const started = Date.parse(occurredAt ?? item.at);
    if (!Number.isFinite(started)) return;
    whenResolved(this.engine.clock.now(), (now) =>
      this.metrics.propagation.observe(
        { origin: occurredAt === undefined ? 'engine' : 'store' },
        Math.max(0, now - started) / 1000,
      ),
    );
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.closed) client.res.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    }
  }

  private end(client: StreamClient, reason: string): void {
    if (client.closed) return;
    this.metrics.sseDropped.inc({ reason });
    client.res.end();
    this.drop(client);
  }

  private drop(client: StreamClient): void {
    client.closed = true;
    client.buffer = [];
    this.clients.delete(client);
    this.metrics.sseClients.set(this.clients.size);
    // No client left: stop listening (an HTTP worker then stops receiving the feed over IPC).
    if (this.clients.size === 0) this.stopListening();
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Ends every stream (clients reconnect elsewhere with Last-Event-ID) and stops listening. */
  close(): void {
    this.closing = true;
    for (const client of [...this.clients]) this.end(client, 'shutdown');
    this.stopListening();
  }
}
