// Store agent benchmark, with the engine and the agent as real processes on this machine:
//
//  1. Propagation: time from a till event posted to the agent to the change arriving on a
//     storefront's SSE connection (GET /v1/stream?locationId=S1), p50/p99/max over --events events
//     sent open-loop at --rate events/s, with live forwarding, then the same with --legacy-sync
//     (default 5s instead of today's 15 minutes, so the run stays short; legacy latency scales with
//     the interval), then live forwarding again at --stress-rate (0 skips it).
//  2. Backlog drain: --drain-events events recorded while the engine is down, then the engine is
//     restarted: time from the restart (process spawn) to an empty backlog, and the drain rate.
//
//   node --import tsx scripts/bench-propagation.ts [--events 10000] [--rate 100] [--stress-rate 500]
//     [--legacy-interval 5s] [--drain-events 100000] [--batch-max 500] [--skip-legacy] [--skip-propagation]
//     [--skip-drain] [--json]
//
// Send and arrival times are both taken in this process (performance.now()), so no clock is shared
// between processes. The load generator, the agent and the engine share this machine's cores.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createParser } from 'eventsource-parser';
import { parseDuration } from '../store-agent/config.js';
import {
  AgentProcess,
  EngineProcess,
  agentHealth,
  delay,
  freePort,
  http,
  keys,
  makeTemp,
  registerLocation,
  removeTemp,
  waitUntil,
} from '../tests/support/store-agent-processes.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '100' },
    'stress-rate': { type: 'string', default: '500' },
    'legacy-interval': { type: 'string', default: '5s' },
    'drain-events': { type: 'string', default: '100000' },
    'batch-max': { type: 'string', default: '500' },
    'skip-legacy': { type: 'boolean', default: false },
    'skip-propagation': { type: 'boolean', default: false },
    'skip-drain': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const events = Number(values.events);
const rate = Number(values.rate);
const stressRate = Number(values['stress-rate']);
const legacyIntervalMs = parseDuration(values['legacy-interval']);
const drainEvents = Number(values['drain-events']);
const batchMax = values['batch-max'];
const progress = (message: string) => process.stderr.write(`${message}\n`);

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)] ?? Number.NaN;

interface LatencySummary {
  readonly mode: string;
  readonly events: number;
  readonly rate: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly tillP99Ms: number;
  readonly wallSeconds: number;
}

/** A storefront's SSE connection: records when each till seq of S1 arrives. */
async function storefrontStream(engineUrl: string, arrivals: Map<number, number>): Promise<AbortController> {
  const abort = new AbortController();
  const response = await fetch(`${engineUrl}/v1/stream?locationId=S1`, {
    headers: { authorization: `Bearer ${keys.storefront}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body) throw new Error(`stream answered ${response.status}`);
  const parser = createParser({
    onEvent: (message) => {
      const item = JSON.parse(message.data) as { event?: { source?: { storeId?: string; seq?: number } } };
      const source = item.event?.source;
      if (source?.storeId === 'S1' && typeof source.seq === 'number' && !arrivals.has(source.seq)) {
        arrivals.set(source.seq, performance.now());
      }
    },
  });
  const body = response.body;
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // aborted at the end of the run
    }
  })();
  return abort;
}

async function measurePropagation(mode: 'live' | 'legacy', eventsPerSecond: number): Promise<LatencySummary> {
  const dir = await makeTemp(`bench-prop-${mode}`);
  const engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port: await freePort() });
  const extraArgs = [
    '--batch-max',
    batchMax,
    ...(mode === 'legacy' ? ['--legacy-sync', `${legacyIntervalMs}ms`] : []),
  ];
  const agent = new AgentProcess({
    storeId: 'S1',
    engineUrl: engine.url,
    dataDir: path.join(dir, 'agent'),
    extraArgs,
  });
  try {
    await engine.start();
    await registerLocation(engine.url, 'S1');
    await agent.start();
    const arrivals = new Map<number, number>();
    const stream = await storefrontStream(engine.url, arrivals);
    await delay(200);
    const sentAt = new Map<number, number>();
    const tillMs: number[] = [];
    const skus = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    progress(
      `${mode}: ${events} events at ${eventsPerSecond}/s${mode === 'legacy' ? `, push every ${legacyIntervalMs} ms` : ''}`,
    );
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < events; i++) {
      const due = started + (i * 1000) / eventsPerSecond;
      const wait = due - performance.now();
      if (wait > 1) await delay(wait);
      const sent = performance.now();
      const request = http(agent.url, 'POST', '/till/events', {
        body: { type: i % 10 === 9 ? 'receipt' : 'sale', sku: skus[i % skus.length], quantity: 1 },
      }).then((answer) => {
        if (answer.status !== 201) throw new Error(`till answered ${answer.status}: ${answer.text}`);
        tillMs.push(performance.now() - sent);
        sentAt.set(answer.json['seq'] as number, sent);
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      if (i % 2000 === 1999) progress(`  ${i + 1} sent, ${arrivals.size} arrived on the stream`);
    }
    await Promise.all(inFlight);
    await waitUntil(
      'every event on the storefront stream',
      () => arrivals.size >= events,
      mode === 'legacy' ? legacyIntervalMs * 2 + 60_000 : 60_000,
      5,
    );
    const wallSeconds = (performance.now() - started) / 1000;
    stream.abort();
    const latencies: number[] = [];
    for (const [seq, sent] of sentAt) {
      const arrived = arrivals.get(seq);
      if (arrived === undefined) throw new Error(`seq ${seq} never arrived`);
      latencies.push(arrived - sent);
    }
    latencies.sort((a, b) => a - b);
    tillMs.sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return {
      mode: mode === 'live' ? 'live forwarding' : `legacy sync every ${legacyIntervalMs / 1000} s`,
      events: latencies.length,
      rate: eventsPerSecond,
      p50Ms: round(percentile(latencies, 50)),
      p90Ms: round(percentile(latencies, 90)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(latencies[latencies.length - 1] ?? Number.NaN),
      meanMs: round(latencies.reduce((sum, value) => sum + value, 0) / latencies.length),
      tillP99Ms: round(percentile(tillMs, 99)),
      wallSeconds: round(wallSeconds),
    };
  } finally {
    await agent.kill();
    await engine.kill();
    await removeTemp(dir);
  }
}

interface DrainSummary {
  readonly events: number;
  readonly batchMax: number;
  readonly recordSeconds: number;
  readonly engineBootSeconds: number;
  readonly restartToEmptySeconds: number;
  readonly readyToEmptySeconds: number;
  readonly firstAckToEmptySeconds: number;
  readonly drainEventsPerSecond: number;
}

async function measureDrain(): Promise<DrainSummary> {
  const dir = await makeTemp('bench-drain');
  const engine = new EngineProcess({ dataDir: path.join(dir, 'engine'), port: await freePort() });
  const agent = new AgentProcess({
    storeId: 'S1',
    engineUrl: engine.url,
    dataDir: path.join(dir, 'agent'),
    extraArgs: ['--batch-max', batchMax, '--no-read-model'],
  });
  try {
    await engine.start();
    await registerLocation(engine.url, 'S1');
    await agent.start();
    await engine.stop();
    progress(`drain: recording ${drainEvents} events with the engine down`);
    const recordStarted = performance.now();
    const skus = Array.from({ length: 50 }, (_, i) => `SKU-${i}`);
    for (let sent = 0; sent < drainEvents; sent += 1000) {
      const batch = Array.from({ length: Math.min(1000, drainEvents - sent) }, (_, i) => ({
        type: (sent + i) % 10 === 9 ? 'receipt' : 'sale',
        sku: skus[(sent + i) % skus.length],
        quantity: 1,
      }));
      const answer = await http(agent.url, 'POST', '/till/events', { body: { events: batch } });
      if (answer.status !== 201) throw new Error(`till answered ${answer.status}: ${answer.text}`);
    }
    const recordSeconds = (performance.now() - recordStarted) / 1000;
    const before = await agentHealth(agent.url);
    if (before.forwarding.backlog !== drainEvents) throw new Error(`backlog ${before.forwarding.backlog}`);
    progress(`drain: ${drainEvents} events queued in ${recordSeconds.toFixed(1)} s; restarting the engine`);

    const restarted = performance.now();
    let firstAck: number | undefined;
    let empty: number | undefined;
    const watcher = (async () => {
      for (;;) {
        const health = await agentHealth(agent.url).catch(() => undefined);
        const now = performance.now();
        if (health) {
          if (firstAck === undefined && health.forwarding.backlog < drainEvents) firstAck = now;
          if (health.forwarding.backlog === 0) {
            empty = now;
            return;
          }
        }
        if (now - restarted > 600_000) throw new Error('backlog not drained in 10 minutes');
        await delay(10);
      }
    })();
    await engine.start(120_000);
    const ready = performance.now();
    await watcher;
    const lastSeq = (await http(engine.url, 'GET', '/v1/stores/S1', { key: keys.reader })).json['lastSeq'];
    if (lastSeq !== drainEvents) throw new Error(`engine lastSeq ${String(lastSeq)} after the drain`);
    const restartToEmpty = ((empty ?? 0) - restarted) / 1000;
    const firstAckToEmpty = ((empty ?? 0) - (firstAck ?? restarted)) / 1000;
    const round = (value: number) => Math.round(value * 1000) / 1000;
    return {
      events: drainEvents,
      batchMax: Number(batchMax),
      recordSeconds: round(recordSeconds),
      engineBootSeconds: round((ready - restarted) / 1000),
      restartToEmptySeconds: round(restartToEmpty),
      readyToEmptySeconds: round(((empty ?? 0) - ready) / 1000),
      firstAckToEmptySeconds: round(firstAckToEmpty),
      drainEventsPerSecond: Math.round(drainEvents / firstAckToEmpty),
    };
  } finally {
    await agent.kill();
    await engine.kill();
    await removeTemp(dir);
  }
}

const cpus = os.cpus();
const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}`;
// Other work on the machine moves every figure: the 1-minute load average is printed with them.
const load = () => os.loadavg()[0]?.toFixed(2) ?? '?';
progress(`machine: ${machine}; load average ${load()}`);
const loadBefore = load();
const propagation: LatencySummary[] = [];
if (!values['skip-propagation']) {
  propagation.push(await measurePropagation('live', rate));
  if (!values['skip-legacy']) propagation.push(await measurePropagation('legacy', rate));
  if (stressRate > 0) propagation.push(await measurePropagation('live', stressRate));
}
const drain = values['skip-drain'] ? undefined : await measureDrain();
const loadAfter = load();

if (values.json) {
  console.log(JSON.stringify({ machine, loadBefore, loadAfter, propagation, drain }, null, 2));
} else {
  console.log(
    `machine: ${machine}; 1-minute load average ${loadBefore} at the start, ${loadAfter} at the end`,
  );
  if (propagation.length > 0) {
    console.log(
      `\nPropagation, till event at the agent -> storefront SSE (${events} events per row, open loop)`,
    );
    console.log('| mode | rate | events | p50 | p90 | p99 | max | mean | till answer p99 |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of propagation) {
      console.log(
        `| ${row.mode} | ${row.rate}/s | ${row.events} | ${row.p50Ms} ms | ${row.p90Ms} ms | ${row.p99Ms} ms | ${row.maxMs} ms | ${row.meanMs} ms | ${row.tillP99Ms} ms |`,
      );
    }
  }
  if (drain) {
    console.log(
      `\nBacklog drain: ${drain.events} events queued while the engine was down (batch-max ${drain.batchMax})`,
    );
    console.log('| figure | value |');
    console.log('| --- | ---: |');
    console.log(`| recording the backlog at the till API | ${drain.recordSeconds} s |`);
    console.log(`| engine restart: process spawn to listening | ${drain.engineBootSeconds} s |`);
    console.log(`| engine restart to empty backlog | ${drain.restartToEmptySeconds} s |`);
    console.log(`| engine listening to empty backlog | ${drain.readyToEmptySeconds} s |`);
    console.log(`| first acknowledged batch to empty backlog | ${drain.firstAckToEmptySeconds} s |`);
    console.log(`| drain rate | ${drain.drainEventsPerSecond} events/s |`);
  }
}
