// A tiny fault-injecting TCP proxy for tests: put it between the store agent and the engine and make
// the network misbehave on command.
//   - refuse:    new connections are accepted and reset at once (the engine looks down);
//   - blackhole: new and live connections forward nothing in either direction (packets dropped);
//   - delay:     every chunk is held for a number of milliseconds before it is passed on;
//   - cutAll():  every live connection is destroyed now, on both sides;
//   - cutChance: each chunk, in either direction, destroys its connection with this probability
//                (seeded, so a failing run can be replayed), which cuts requests and answers mid-way.
import net from 'node:net';
import { mulberry32 } from '../../scripts/simulator/prng.js';

export interface FaultProxyStats {
  connections: number;
  refused: number;
  cuts: number;
  chunks: number;
}

/** The simulator's seeded PRNG (mulberry32), so fault sequences are reproducible. */
export const seededRandom = mulberry32;

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export class TcpFaultProxy {
  readonly stats: FaultProxyStats = { connections: 0, refused: 0, cuts: 0, chunks: 0 };
  refuse = false;
  blackhole = false;
  delayMs = 0;
  cutChance = 0;
  #random: () => number;
  readonly #pairs = new Set<Pair>();
  #server: net.Server | undefined;
  #port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    seed = 1,
  ) {
    this.#random = seededRandom(seed);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async listen(port = 0): Promise<this> {
    const server = net.createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    this.#server = server;
    return this;
  }

  /** Back to a healthy network (live connections stay as they are). */
  heal(): void {
    this.refuse = false;
    this.blackhole = false;
    this.delayMs = 0;
    this.cutChance = 0;
  }

  reseed(seed: number): void {
    this.#random = seededRandom(seed);
  }

  /** Destroys every live connection, both sides. Returns how many were cut. */
  cutAll(): number {
    const count = this.#pairs.size;
    for (const pair of [...this.#pairs]) this.#cut(pair);
    return count;
  }

  get liveConnections(): number {
    return this.#pairs.size;
  }

  async close(): Promise<void> {
    this.cutAll();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.stats.connections++;
    if (this.refuse) {
      this.stats.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const end = () => {
      if (!this.#pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    this.#pipe(pair, client, upstream);
    this.#pipe(pair, upstream, client);
  }

  #pipe(pair: Pair, from: net.Socket, to: net.Socket): void {
    // Chunks keep their order even when delayed: each waits for the previous one.
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      this.stats.chunks++;
      if (this.blackhole) return;
      if (this.cutChance > 0 && this.#random() < this.cutChance) {
        this.#cut(pair);
        return;
      }
      const delay = this.delayMs;
      if (delay <= 0) {
        chain = chain.then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      chain = chain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!to.destroyed && !this.blackhole) to.write(chunk);
              resolve();
            }, delay),
          ),
      );
    });
    from.on('end', () => {
      void chain.then(() => to.end());
    });
  }

  #cut(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    this.stats.cuts++;
    reset(pair.client);
    reset(pair.upstream);
  }
}

/**
 * Cuts a connection with a TCP reset when the socket is fully open. Otherwise it is destroyed: on a
 * socket still connecting Node's resetAndDestroy() waits for the connection, and on one already
 * shutting down its write side the reset fails and the handle is never closed; either way the handle
 * would keep the test process alive.
 */
function reset(socket: net.Socket): void {
  if (socket.connecting || socket.pending || socket.writableEnded || !socket.writable) socket.destroy();
  else socket.resetAndDestroy();
}
