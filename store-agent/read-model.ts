// The store's local read model of its own location: every stock level at this store and the online
// holds placed on it (to put aside for pickup), kept from the engine's live stream
// (GET /v1/stream?locationId=<store>, Server-Sent Events, parsed with eventsource-parser over a
// streaming fetch).
//
// The model and the id of the last stream item it includes are saved together, atomically, so after
// a disconnect or a restart the agent resumes with Last-Event-ID and gets exactly what it missed. A
// first connection asks for everything after `0`, which replays the location's history from the
// engine's retained journal. A connection that stays silent longer than the server's heartbeats
// allow is treated as broken and reopened.
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import type { EventSourceMessage } from 'eventsource-parser';
import type { Logger } from '../engine/logger.js';
import type { FeedItem, StockLevelView } from '../engine/types.js';
import type { AgentMetrics } from './metrics.js';
import type { StateFile } from './state-file.js';

export interface LocalLevel {
  readonly sku: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly safetyStock: number;
  readonly available: number;
  readonly version: number;
  readonly updatedAt: string | null;
}

/** An online reservation's hold on this store's stock: units to put aside for the customer. */
export interface LocalHold {
  readonly reservationId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly expiresAt: string;
  /** A till sale or count took units this hold counted on; the engine re-sources it if it can. */
  readonly atRisk: boolean;
}

export interface ReadModelState {
  readonly storeId: string;
  /** Id of the last stream item applied; the stream resumes right after it. */
  readonly lastEventId: string;
  readonly levels: Record<string, LocalLevel>;
  /** Keyed by `${reservationId}/${sku}`. */
  readonly holds: Record<string, LocalHold>;
}

export interface ReadModelOptions {
  readonly storeId: string;
  readonly engineUrl: string;
  readonly storeKey: string;
  readonly stateFile: StateFile<ReadModelState>;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  /** A connection silent this long (no item, no heartbeat comment) is reopened. */
  readonly idleTimeoutMs?: number | undefined;
  /** At most this long between saves of the model while items arrive. */
  readonly saveEveryMs?: number | undefined;
}

const FIRST_CURSOR = '0';

export class ReadModel {
  readonly #options: ReadModelOptions;
  #state: {
    lastEventId: string;
    levels: Map<string, LocalLevel>;
    holds: Map<string, LocalHold>;
  } = { lastEventId: FIRST_CURSOR, levels: new Map(), holds: new Map() };
  #connected = false;
  #stopping = false;
  #abort = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #saveTimer: NodeJS.Timeout | undefined;
  #dirty = false;
  #lastItemAt: string | null = null;

  constructor(options: ReadModelOptions) {
    this.#options = options;
  }

  async load(): Promise<void> {
    const saved = await this.#options.stateFile.load();
    if (!saved) return;
    if (saved.storeId !== this.#options.storeId) {
      throw new Error(
        `${this.#options.stateFile.file} belongs to store ${saved.storeId}, not ${this.#options.storeId}`,
      );
    }
    this.#state = {
      lastEventId: saved.lastEventId,
      levels: new Map(Object.entries(saved.levels)),
      holds: new Map(Object.entries(saved.holds)),
    };
  }

  start(): void {
    this.#loop = this.#follow();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    await this.#loop;
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    this.#save();
    await this.#options.stateFile.flush();
  }

  get connected(): boolean {
    return this.#connected;
  }

  get lastEventId(): string {
    return this.#state.lastEventId;
  }

  /** The model as GET /stock serves it. */
  view(sku?: string) {
    const levels = [...this.#state.levels.values()]
      .filter((level) => sku === undefined || level.sku === sku)
      .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
    const holds = [...this.#state.holds.values()]
      .filter((hold) => sku === undefined || hold.sku === sku)
      .sort((a, b) => (a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : 0));
    return {
      storeId: this.#options.storeId,
      connected: this.#connected,
      lastEventId: this.#state.lastEventId,
      lastItemAt: this.#lastItemAt,
      levels,
      holds,
    };
  }

  async #follow(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      try {
        const started = Date.now();
        await this.#connectOnce();
        // A stream that ran for a while and ended (server restart, drain) is reopened promptly.
        if (Date.now() - started > 5000) failures = 0;
      } catch (error) {
        if (this.#stopping) break;
        this.#options.logger.debug('stream disconnected', { error: String(error) });
      }
      this.#setConnected(false);
      if (this.#stopping) break;
      failures++;
      this.#options.metrics.streamReconnects.inc();
      const ceiling = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), undefined, {
        signal: this.#abort.signal,
      }).catch(() => undefined);
    }
  }

  async #connectOnce(): Promise<void> {
    const { engineUrl, storeId, storeKey } = this.#options;
    const idleTimeoutMs = this.#options.idleTimeoutMs ?? 45_000;
    const connection = new AbortController();
    const onStop = () => connection.abort();
    this.#abort.signal.addEventListener('abort', onStop, { once: true });
    let idleTimer: NodeJS.Timeout | undefined;
    const touch = () => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => connection.abort(new Error('stream idle')), idleTimeoutMs);
    };
    try {
      touch();
      const response = await fetch(`${engineUrl}/v1/stream?locationId=${encodeURIComponent(storeId)}`, {
        headers: {
          authorization: `Bearer ${storeKey}`,
          accept: 'text/event-stream',
          'last-event-id': this.#state.lastEventId,
        },
        signal: connection.signal,
      });
      if (response.status === 410) {
        // The engine compacted the journal past our position: start over from what it retains.
        this.#options.logger.warn('stream position expired; rebuilding the read model', {
          lastEventId: this.#state.lastEventId,
        });
        await response.body?.cancel();
        this.#state = { lastEventId: FIRST_CURSOR, levels: new Map(), holds: new Map() };
        this.#markDirty();
        return;
      }
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        throw new Error(`stream answered ${response.status}`);
      }
      this.#setConnected(true);
      const parser = createParser({
        onEvent: (message) => this.#apply(message),
        onComment: () => undefined,
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        touch();
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      }
    } finally {
      if (idleTimer) clearTimeout(idleTimer);
      this.#abort.signal.removeEventListener('abort', onStop);
    }
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    this.#options.metrics.streamConnected.set(connected ? 1 : 0);
    this.#options.logger.info(connected ? 'following the engine stream' : 'engine stream lost', {
      lastEventId: this.#state.lastEventId,
    });
  }

  #apply(message: EventSourceMessage): void {
    let item: FeedItem;
    try {
      item = JSON.parse(message.data) as FeedItem;
    } catch {
      this.#options.logger.warn('ignored a stream message that is not JSON', { id: message.id });
      return;
    }
    const storeId = this.#options.storeId;
    const level: StockLevelView | undefined = item.level;
    if (level && level.locationId === storeId) {
      const known = this.#state.levels.get(level.sku);
      if (!known || level.version > known.version) {
        this.#state.levels.set(level.sku, {
          sku: level.sku,
          onHand: level.onHand,
          reserved: level.reserved,
          safetyStock: level.safetyStock,
          available: level.available,
          version: level.version,
          updatedAt: level.updatedAt,
        });
      }
      this.#applyHold(item, level.sku);
    }
    if (message.id !== undefined) this.#state.lastEventId = message.id;
    this.#lastItemAt = new Date().toISOString();
    this.#options.metrics.streamItems.inc();
    this.#markDirty();
  }

  #applyHold(item: FeedItem, sku: string): void {
    const reservationId = item.reservationId;
    if (reservationId === undefined) return;
    const key = `${reservationId}/${sku}`;
    const event = item.event as { quantity?: unknown; expiresAt?: unknown };
    switch (item.type) {
      case 'StockReserved':
        this.#state.holds.set(key, {
          reservationId,
          sku,
          quantity: typeof event.quantity === 'number' ? event.quantity : 0,
          expiresAt: typeof event.expiresAt === 'string' ? event.expiresAt : '',
          atRisk: false,
        });
        break;
      case 'ReservationAtRisk': {
        const hold = this.#state.holds.get(key);
        if (hold) this.#state.holds.set(key, { ...hold, atRisk: true });
        break;
      }
      case 'ReservationReleased':
      case 'ReservationCommitted':
        this.#state.holds.delete(key);
        break;
      default:
        break;
    }
  }

  #markDirty(): void {
    this.#dirty = true;
    this.#saveTimer ??= setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save();
    }, this.#options.saveEveryMs ?? 500);
  }

  #save(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    void this.#options.stateFile.save({
      storeId: this.#options.storeId,
      lastEventId: this.#state.lastEventId,
      levels: Object.fromEntries(this.#state.levels),
      holds: Object.fromEntries(this.#state.holds),
    });
  }
}
