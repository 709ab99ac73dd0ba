// An open-loop phase: requests start at a steady rate whatever the answers do, each timed from its
// send to the end of its answer. autocannon's `overallRate` sends each second's requests in bursts
// (one connection at 100/s measured p50 1 ms but p99 88 ms against a server whose service time was
// 3 ms at p99), so the paced phases, whose p99 is a target, use this instead: one request every
// 1000/rate ms, taken by the next idle client. Each client runs its script in order (a confirm needs
// the reservation its reserve created) over its own keep-alive connection (node:http). A request
// that finds no idle client waits for one, and that wait is not counted: the report says how often.
import http from 'node:http';
import type { ClientScript, PhaseResult, Step } from './cannon.js';
import { phaseResult } from './cannon.js';
import { Recorder } from './stats.js';

export interface PacedSpec {
  readonly label: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Requests per second, started evenly. */
  readonly rate: number;
  readonly seconds: number;
  /** Clients, each with its own connection and script. */
  readonly connections: number;
  readonly script: ClientScript;
  readonly progress: (line: string) => void;
}

const TIMEOUT_MS = 10_000;

interface Client {
  readonly steps: readonly Step[];
  next: number;
}

export interface PacedResult extends PhaseResult {
  /** Requests that started late because every client was busy. */
  readonly late: number;
}

export async function runPacedPhase(spec: PacedSpec): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const recorder = new Recorder();
  const target = new URL(spec.url);
  const idle: Client[] = Array.from({ length: spec.connections }, (_, index) => ({
    steps: spec.script(index),
    next: 0,
  }));
  let errors = 0;
  let timeouts = 0;
  let late = 0;
  let waiting = 0;
  let inFlight = 0;
  const startNs = process.hrtime.bigint();
  const startMs = Date.now();
  const started = performance.now();
  const total = Math.round(spec.rate * spec.seconds);

  const release = (client: Client) => {
    if (waiting > 0) {
      waiting--;
      send(client);
    } else idle.push(client);
  };
  const send = (client: Client): void => {
    let request = null;
    // A step may decline (nothing to confirm yet): the script then starts over.
    for (let tries = 0; tries < client.steps.length && request === null; tries++) {
      const step = client.steps[client.next] as Step;
      request = step.build();
      if (request === null) client.next = 0;
    }
    if (request === null) {
      release(client);
      return;
    }
    const step = client.steps[client.next] as Step;
    client.next = (client.next + 1) % client.steps.length;
    const sending = request;
    const headers: Record<string, string> = { ...spec.headers, ...sending.headers };
    if (sending.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(sending.body));
    }
    const at = performance.now();
    inFlight++;
    let settled = false;
    const done = (status: number, body: string) => {
      if (settled) return;
      settled = true;
      inFlight--;
      if (status === 0) errors++;
      else {
        recorder.record(sending.kind, status, performance.now() - at);
        step.onResponse?.(status, body);
      }
      release(client);
    };
    const outgoing = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: sending.method,
        path: sending.path,
        headers,
        timeout: TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () => done(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        response.once('error', () => done(0, ''));
      },
    );
    outgoing.once('timeout', () => {
      timeouts++;
      outgoing.destroy(new Error('timeout'));
    });
    outgoing.once('error', () => done(0, ''));
    outgoing.end(sending.body);
  };

  let second = 0;
  const ticker = setInterval(() => {
    second++;
    const count = recorder.tickCount;
    recorder.tickCount = 0;
    spec.progress(
      `  [${spec.label}] ${second}s/${spec.seconds}s  ${count.toLocaleString('en-US')} req/s` +
        (errors > 0 ? `  errors ${errors}` : '') +
        (late > 0 ? `  late ${late}` : ''),
    );
  }, 1000);
  ticker.unref();
  let begun = 0;
  // Whatever is due by now starts now, so a late timer does not lower the rate.
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * spec.rate) + 1);
      while (begun < due) {
        begun++;
        const client = idle.pop();
        if (client) send(client);
        else {
          late++;
          waiting++;
        }
      }
      if (begun >= total) resolve();
      else setTimeout(tick, Math.max(1, 1000 / spec.rate / 2));
    };
    tick();
  });
  const deadline = performance.now() + TIMEOUT_MS + 1000;
  while ((inFlight > 0 || waiting > 0) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  clearInterval(ticker);
  agent.destroy();
  const endNs = process.hrtime.bigint();
  const seconds = (performance.now() - started) / 1000;
  return {
    ...phaseResult(spec, recorder, {
      seconds,
      errors,
      timeouts,
      window: { startNs: String(startNs), endNs: String(endNs), startMs, endMs: Date.now() },
    }),
    late,
  };
}
