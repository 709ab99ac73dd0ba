// SSE subscribers and the paced till writer whose events they wait for: the propagation figures.
//
// A writer sends one till event at a time per store at a steady pace and notes, per (store, seq),
// when it sent the request and when the answer came back. Each subscriber holds its own
// GET /v1/stream connection (node:http, no agent) filtered to the writer's stores, and notes when
// each event arrives. Delivery latency is arrival minus the write's answer (as asked: negative when
// the event beats the HTTP answer to the client) and arrival minus the write's send (the till-to-
// storefront propagation, durable commit included).
import http from 'node:http';
import os from 'node:os';
import { createParser } from 'eventsource-parser';
import type { PhaseResult } from './cannon.js';
import type { ApiClient } from './client.js';
import type { TillStore } from './ledger.js';
import type { LatencySummary } from './stats.js';
import { Recorder, Samples } from './stats.js';

export interface Subscription {
  readonly index: number;
  received: number;
  close(): void;
}

/** Opens one stream; resolves once the server answered 200 (it subscribes before answering). */
export function subscribe(
  baseUrl: string,
  key: string,
  query: string,
  index: number,
  onData: (data: string, arrivedAt: number) => void,
  timeoutMs = 15_000,
): Promise<Subscription> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      `${baseUrl}/v1/stream${query}`,
      { agent: false, headers: { accept: 'text/event-stream', authorization: `Bearer ${key}` } },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`GET /v1/stream answered ${response.statusCode}`));
          return;
        }
        clearTimeout(timer);
        const subscription: Subscription = { index, received: 0, close: () => request.destroy() };
        const parser = createParser({
          onEvent: (event) => {
            subscription.received++;
            onData(event.data, performance.now());
          },
        });
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => parser.feed(chunk));
        response.on('error', () => undefined);
        resolve(subscription);
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`GET /v1/stream: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Opens `count` subscribers, `parallel` at a time. */
export async function subscribeMany(
  count: number,
  parallel: number,
  open: (index: number) => Promise<Subscription>,
): Promise<Subscription[]> {
  const subscriptions: Subscription[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - start) }, (_, i) => open(start + i)),
    );
    subscriptions.push(...batch);
  }
  return subscriptions;
}

const SOURCE = /"source":\{"storeId":"([^"]+)","seq":(\d+)/;

/** `<storeId>:<seq>` of a till event's feed item; a regular expression first, as it is read per message. */
function sourceKeyOf(data: string): string | undefined {
  const match = SOURCE.exec(data);
  if (match) return `${match[1]}:${match[2]}`;
  try {
    const source = (JSON.parse(data) as { event?: { source?: { storeId?: unknown; seq?: unknown } } }).event
      ?.source;
    return typeof source?.storeId === 'string' && typeof source.seq === 'number'
      ? `${source.storeId}:${source.seq}`
      : undefined;
  } catch {
    return undefined;
  }
}

export interface PropagationSummary {
  readonly writes: number;
  readonly subscribers: number;
  readonly expectedDeliveries: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicates: number;
  /** Arrival minus the write's answer at the client (negative: the event arrived first). */
  readonly responseToArrival: LatencySummary & { readonly arrivedBeforeAnswer: number };
  /** Arrival minus the write's send: the till-to-storefront propagation, durable commit included. */
  readonly sendToArrival: LatencySummary;
}

/** Matches stream arrivals with the writes that caused them. */
export class Propagation {
  private readonly writes = new Map<string, { sentAt: number; answeredAt?: number }>();
  private readonly arrivals = new Map<string, number[]>();
  ignored = 0;

  sent(storeId: string, seq: number, at: number): void {
    this.writes.set(`${storeId}:${seq}`, { sentAt: at });
  }

  answered(storeId: string, seq: number, at: number): void {
    const write = this.writes.get(`${storeId}:${seq}`);
    if (write) write.answeredAt = at;
  }

  arrived(data: string, at: number): void {
    const key = sourceKeyOf(data);
    if (key === undefined) {
      this.ignored++;
      return;
    }
    let list = this.arrivals.get(key);
    if (!list) {
      list = [];
      this.arrivals.set(key, list);
    }
    list.push(at);
  }

  /** Arrivals so far (to wait until deliveries settle). */
  get arrivalCount(): number {
    let count = 0;
    for (const list of this.arrivals.values()) count += list.length;
    return count;
  }

  /** Figures over the writes answered 200 and sent within [from, to] (performance.now() ms). */
  summary(subscribers: number, from = 0, to = Number.POSITIVE_INFINITY): PropagationSummary {
    const response = new Samples();
    const send = new Samples();
    let writes = 0;
    let delivered = 0;
    let missing = 0;
    let duplicates = 0;
    let arrivedBeforeAnswer = 0;
    for (const [key, write] of this.writes) {
      if (write.answeredAt === undefined || write.sentAt < from || write.sentAt > to) continue;
      writes++;
      const list = this.arrivals.get(key) ?? [];
      delivered += Math.min(list.length, subscribers);
      missing += Math.max(0, subscribers - list.length);
      duplicates += Math.max(0, list.length - subscribers);
      for (const at of list) {
        send.add(at - write.sentAt);
        const delta = at - write.answeredAt;
        if (delta < 0) arrivedBeforeAnswer++;
        response.add(delta);
      }
    }
    return {
      writes,
      subscribers,
      expectedDeliveries: writes * subscribers,
      delivered,
      missing,
      duplicates,
      responseToArrival: { ...response.summary(), arrivedBeforeAnswer },
      sendToArrival: send.summary(),
    };
  }
}

/**
 * Sends one-event batches for each store at a steady overall rate (one request in flight per store,
 * so each store's events stay in order), until stopped.
 */
export class PacedTillWriter {
  private stopped = false;
  private loops: Promise<void>[] = [];
  private recorder = new Recorder();
  private startedAt = 0;

  constructor(
    private readonly client: ApiClient,
    private readonly stores: readonly TillStore[],
    private readonly ratePerSecond: number,
    private readonly propagation: Propagation,
  ) {}

  start(): void {
    const interval = (1000 * this.stores.length) / this.ratePerSecond;
    this.startedAt = performance.now();
    this.loops = this.stores.map(async (store, index) => {
      let next = this.startedAt + (interval * index) / this.stores.length;
      while (!this.stopped) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.stopped) break;
        next += interval;
        const batch = store.nextBatch(1);
        const sentAt = performance.now();
        this.propagation.sent(store.storeId, batch.lastSeq, sentAt);
        let status = 0;
        let text = '';
        try {
          const answer = await this.client.request(
            'POST',
            `/v1/stores/${encodeURIComponent(store.storeId)}/events`,
            {
              body: JSON.parse(batch.body),
              idempotencyKey: batch.key,
              timeoutMs: 10_000,
            },
          );
          status = answer.status;
          text = JSON.stringify(answer.body);
        } catch {
          // No answer (timeout, connection reset): the batch is sent again next time.
        }
        const answeredAt = performance.now();
        if (status === 200) this.propagation.answered(store.storeId, batch.lastSeq, answeredAt);
        if (status > 0) {
          this.recorder.record('till-event', status, answeredAt - sentAt);
          store.answered(status, text);
        }
      }
    });
  }

  /** Restarts the write statistics (after the warm-up). */
  resetStats(): void {
    this.recorder = new Recorder();
    this.startedAt = performance.now();
  }

  async stop(label: string): Promise<PhaseResult> {
    const endNs = process.hrtime.bigint();
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.stopped = true;
    await Promise.all(this.loops);
    return {
      label,
      connections: this.stores.length,
      seconds: Math.round(seconds * 100) / 100,
      requests: this.recorder.count,
      requestsPerSecond: Math.round(this.recorder.count / seconds),
      latency: this.recorder.latency(),
      statuses: this.recorder.statusCounts(),
      errors: 0,
      timeouts: 0,
      byKind: this.recorder.byKind(seconds),
      loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
      window: { startNs: '0', endNs: String(endNs), startMs: 0, endMs: Date.now() },
    };
  }
}
