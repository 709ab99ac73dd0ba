// The HTTP workers' channel without processes: a RemoteEngine and an EngineHost joined by an
// in-memory channel that copies every envelope as the cluster channel would (JSON, or a structured
// clone for `advanced`), one turn later. Values, undefined, errors, coalescing and the feed.
import { expect } from 'chai';
import sinon from 'sinon';
import { InventoryError } from '../../../engine/errors.js';
import type { FeedItem } from '../../../engine/types.js';
import { ConfigError, loadConfig } from '../../../api/config.js';
import type { InventoryEngine } from '../../../api/engine-port.js';
import { checkWorkerMode, decodeKeys, perWorkerRateLimit } from '../../../api/http-workers/cluster.js';
import { EngineHost } from '../../../api/http-workers/engine-host.js';
import type { Envelope, PrimaryMessage, WorkerMessage } from '../../../api/http-workers/protocol.js';
import { decodeError, encodeError } from '../../../api/http-workers/protocol.js';
import { RemoteEngine } from '../../../api/http-workers/remote-engine.js';
import { createLogger } from '../../../api/logger.js';
import { mapError } from '../../../api/problem.js';

const codecs = {
  json: <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T,
  advanced: <T>(value: T): T => structuredClone(value),
};

const level = {
  sku: 'TEE',
  locationId: 'S1',
  onHand: 5,
  reserved: 1,
  safetyStock: 0,
  available: 4,
  version: 3,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const feedItem = (seq: number): FeedItem => ({
  id: `${seq}.0`,
  seq,
  index: 0,
  stream: 'stock/TEE/S1',
  type: 'StockAdjusted',
  version: seq,
  at: '2026-01-01T00:00:00.000Z',
  event: { type: 'StockAdjusted', delta: 1 },
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function wire(engine: Partial<InventoryEngine>, codec: <T>(value: T) => T) {
  const toPrimary: Envelope<WorkerMessage>[] = [];
  const toWorker: Envelope<PrimaryMessage>[] = [];
  const logger = createLogger({ level: 'error', silent: true });
  const host = new EngineHost(engine as InventoryEngine, {
    logger,
    services: { hello: () => ({ apiKeys: [], ready: true, rateLimitPerMinute: 3 }) },
  });
  const worker: { remote?: RemoteEngine } = {};
  const connection = host.connect((envelope) => {
    toWorker.push(envelope);
    const copy = codec(envelope);
    setImmediate(() => worker.remote?.receive(copy));
  });
  const remote = new RemoteEngine({
    send: (envelope) => {
      toPrimary.push(envelope);
      const copy = codec(envelope);
      setImmediate(() => connection.receive(copy));
    },
  });
  worker.remote = remote;
  return { remote, connection, toPrimary, toWorker };
}

for (const [name, codec] of Object.entries(codecs)) {
  describe(`http workers: IPC round trip (${name})`, () => {
    it('answers values, and keeps undefined arguments and answers undefined', async () => {
      const readFeed = sinon.fake.resolves({ items: [feedItem(1)], next: '1.0' });
      const { remote } = wire(
        {
          level: () => level,
          location: () => undefined,
          readFeed,
        },
        codec,
      );
      expect(await remote.level('TEE', 'S1')).to.deep.equal(level);
      expect(await remote.location('NOPE')).to.equal(undefined);
      expect(await remote.readFeed(undefined, 10)).to.deep.equal({ items: [feedItem(1)], next: '1.0' });
      expect(readFeed.firstCall.args).to.deep.equal([undefined, 10]);
      expect(readFeed.firstCall.args[0]).to.equal(undefined);
    });

    it('delivers an InventoryError with its code, message, details and Retry-After, mapped as in process', async () => {
      const original = new InventoryError(
        'STOCK_INSUFFICIENT',
        'not enough TEE',
        { lines: [{ sku: 'TEE', locationId: 'S1', requested: 3, available: 1 }] },
        2,
      );
      const { remote } = wire({ reserve: () => Promise.reject(original) }, codec);
      const error: unknown = await remote
        .reserve({ lines: [{ sku: 'TEE', quantity: 3 }], ttlSeconds: 60 })
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).to.be.instanceOf(InventoryError);
      const received = error as InventoryError;
      expect(received.code).to.equal(original.code);
      expect(received.message).to.equal(original.message);
      expect(received.details).to.deep.equal(original.details);
      expect(received.retryAfterSeconds).to.equal(2);
      expect(mapError(received)).to.deep.equal(mapError(original));
    });

    it('delivers a synchronous InventoryError of a read, without Retry-After when it has none', async () => {
      const { remote } = wire(
        {
          location: () => {
            throw new InventoryError('VALIDATION_FAILED', 'bad id', { field: 'locationId' });
          },
        },
        codec,
      );
      const error = (await remote.location('x').catch((caught: unknown) => caught)) as InventoryError;
      expect(error).to.be.instanceOf(InventoryError);
      expect(error.code).to.equal('VALIDATION_FAILED');
      expect(error.retryAfterSeconds).to.equal(undefined);
      expect(mapError(error).problem.status).to.equal(400);
    });

    it('turns anything else into a plain Error: the 500 path', async () => {
      const { remote } = wire(
        {
          metrics: () => {
            throw new TypeError('boom');
          },
        },
        codec,
      );
      const error: unknown = await Promise.resolve(remote.metrics()).catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(Error).and.not.instanceOf(InventoryError);
      expect((error as Error).message).to.equal('boom');
      expect(mapError(error).unexpected).to.equal(true);
    });

    it('refuses a method that is not in the port', async () => {
      const { remote } = wire({}, codec);
      const error = await remote.call('constructor' as never).catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/unknown engine method/);
    });

    it('coalesces the calls of one turn into one send, and the answers into one', async () => {
      const { remote, toPrimary, toWorker } = wire({ level: () => level }, codec);
      const answers = await Promise.all(Array.from({ length: 20 }, () => remote.level('TEE', 'S1')));
      expect(answers).to.have.length(20);
      expect(toPrimary).to.have.length(1);
      expect(toPrimary[0]?.stockline).to.have.length(20);
      expect(toWorker).to.have.length(1);
    });

    it('forwards the feed only while subscribed, many items per message, in order', async () => {
      const listeners = new Set<(item: FeedItem) => void>();
      const subscribe = sinon.spy((listener: (item: FeedItem) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      });
      const { remote, toWorker } = wire({ subscribe }, codec);
      const seen: number[] = [];
      const first = remote.subscribe((item) => seen.push(item.seq));
      const second = remote.subscribe(() => undefined);
      await remote.subscribed();
      expect(subscribe.callCount).to.equal(1);
      expect(listeners.size).to.equal(1);

      const before = toWorker.length;
      for (const seq of [1, 2, 3, 4, 5]) for (const listener of listeners) listener(feedItem(seq));
      for (let turn = 0; turn < 5 && seen.length < 5; turn++) await nextTurn();
      expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
      const feedMessages = toWorker
        .slice(before)
        .flatMap((envelope) => envelope.stockline)
        .filter((message) => message.k === 'feed');
      expect(feedMessages).to.have.length(1);

      first();
      expect(listeners.size).to.equal(1); // a listener is left: still subscribed
      second();
      for (let turn = 0; turn < 5 && listeners.size > 0; turn++) await nextTurn();
      expect(listeners.size).to.equal(0);
    });

    it('fails the calls in flight with ENGINE_STOPPED (503) when the channel closes', async () => {
      const { remote } = wire({ execute: () => new Promise(() => undefined) }, codec);
      const pending = remote.execute('TEE', 'S1', { type: 'adjust', delta: 1, reason: 'receipt' });
      remote.close('test');
      const error = (await pending.catch((caught: unknown) => caught)) as InventoryError;
      expect(error).to.be.instanceOf(InventoryError);
      expect(error.code).to.equal('ENGINE_STOPPED');
      expect(mapError(error).problem.status).to.equal(503);
      const later = (await remote.level('TEE', 'S1').catch((caught: unknown) => caught)) as InventoryError;
      expect(later.code).to.equal('ENGINE_STOPPED');
    });

    it('answers the hello with keys and readiness', async () => {
      const { remote } = wire({}, codec);
      const hello = await remote.hello();
      expect(hello.rateLimitPerMinute).to.equal(3);
      expect(remote.ready).to.equal(true);
    });
  });
}

describe('http workers: errors and configuration', () => {
  it('encodes an unknown code as a plain Error', () => {
    const decoded = decodeError({
      kind: 'inventory',
      code: 'NOT_A_CODE' as never,
      message: 'x',
      details: {},
    });
    expect(decoded).to.not.be.instanceOf(InventoryError);
    expect(encodeError('text')).to.deep.equal({ kind: 'error', message: 'text' });
  });

  it('splits the rate limit between the workers, rounding up; 0 stays off', () => {
    expect(perWorkerRateLimit(6000, 2)).to.equal(3000);
    expect(perWorkerRateLimit(7, 2)).to.equal(4);
    expect(perWorkerRateLimit(0, 4)).to.equal(0);
    expect(perWorkerRateLimit(6000, 0)).to.equal(6000);
  });

  it('reads HTTP_WORKERS from 0 to 16 and refuses anything else', () => {
    expect(loadConfig({}).httpWorkers).to.equal(0);
    expect(loadConfig({ HTTP_WORKERS: '2' }).httpWorkers).to.equal(2);
    expect(loadConfig({ HTTP_WORKERS: '16' }).httpWorkers).to.equal(16);
    for (const bad of ['17', '-1', '1.5', 'two']) {
      expect(() => loadConfig({ HTTP_WORKERS: bad }), bad)
        .to.throw(ConfigError)
        .with.property('message')
        .that.includes('HTTP_WORKERS');
    }
  });

  it('refuses FAULT_INJECTION with HTTP workers', () => {
    const config = loadConfig({ HTTP_WORKERS: '2' });
    expect(() => checkWorkerMode(config, { FAULT_INJECTION: '1' }))
      .to.throw(ConfigError)
      .with.property('message')
      .that.includes('FAULT_INJECTION');
    expect(() => checkWorkerMode(config, {})).to.not.throw();
    expect(() => checkWorkerMode(loadConfig({}), { FAULT_INJECTION: '1' })).to.not.throw();
  });

  it('carries API keys to the workers as digests, and refuses an unknown role', () => {
    const [key] = decodeKeys([{ id: 'abc', digest: '00ff', role: 'store', locationId: 'S1' }]);
    expect(key?.digest.equals(Buffer.from([0, 255]))).to.equal(true);
    expect(key?.locationId).to.equal('S1');
    expect(() => decodeKeys([{ id: 'x', digest: '00', role: 'root' }])).to.throw(/unknown role/);
  });
});
