// The fault schedule of a run, drawn from its seed before the run starts, and its execution. Two lanes
// run side by side: processes (kill and restart, pause, journal failures, clock jumps) and the network
// between each store agent and the engine (blackhole, delay, cuts, flaky cuts, refused connections).
// A fault always ends by restoring what it disturbed; the final heal catches anything left over.
import type { Rng } from './rng.js';
import { now, sleep } from './rng.js';
import type { FaultKind, SystemUnderTest } from './system.js';

export interface PlannedFault {
  /** Milliseconds after the workload starts. */
  readonly at: number;
  readonly lane: 'process' | 'network';
  readonly kind: FaultKind;
  readonly target: string;
  readonly durationMs: number;
  /** failNext count, clock offset, delay or cut probability (per kind). */
  readonly amount: number;
}

export interface FaultPlanOptions {
  readonly durationMs: number;
  readonly stores: readonly string[];
  /** Journal failures and clock jumps need the server's FAULT_INJECTION=1 hook. */
  readonly serverFaults: boolean;
  /** Kinds to leave out. */
  readonly exclude?: readonly FaultKind[] | undefined;
}

export function planFaults(rng: Rng, options: FaultPlanOptions): PlannedFault[] {
  const plan: PlannedFault[] = [];
  const excluded = new Set(options.exclude ?? []);
  const start = Math.round(options.durationMs * 0.05);
  const end = Math.round(options.durationMs * 0.85);
  const lane = (name: 'process' | 'network', kinds: [FaultKind, number][], gap: [number, number]) => {
    const choices = kinds.filter(([kind]) => !excluded.has(kind));
    if (choices.length === 0) return;
    const laneRng = rng.fork(name);
    for (let at = start + laneRng.int(0, gap[1]); at < end; at += laneRng.int(gap[0], gap[1])) {
      const kind = laneRng.weighted(choices);
      const store = laneRng.pick(options.stores);
      let target = 'engine';
      let durationMs = 0;
      let amount = 0;
      switch (kind) {
        case 'engine-kill':
          durationMs = laneRng.int(0, 400);
          break;
        case 'engine-pause':
          durationMs = laneRng.int(100, 1_500);
          break;
        case 'agent-kill':
          target = store;
          durationMs = laneRng.int(0, 500);
          break;
        case 'agent-pause':
          target = store;
          durationMs = laneRng.int(100, 2_000);
          break;
        case 'journal-fsync':
        case 'journal-write':
          amount = laneRng.int(1, 3);
          break;
        case 'clock-jump':
          amount = laneRng.chance(0.5) ? 600_000 : -600_000;
          durationMs = laneRng.int(300, 2_500);
          break;
        case 'link-blackhole':
        case 'link-refuse':
          target = store;
          durationMs = laneRng.int(200, 1_500);
          break;
        case 'link-delay':
          target = store;
          durationMs = laneRng.int(300, 2_000);
          amount = laneRng.int(20, 250);
          break;
        case 'link-cut':
          target = store;
          break;
        case 'link-flaky':
          target = store;
          durationMs = laneRng.int(300, 1_500);
          amount = laneRng.int(5, 30) / 100;
          break;
      }
      plan.push({ at, lane: name, kind, target, durationMs, amount });
    }
  };
  const serverOnly: [FaultKind, number][] = options.serverFaults
    ? [
        ['journal-fsync', 3],
        ['journal-write', 1],
        ['clock-jump', 2],
      ]
    : [];
  lane(
    'process',
    [['engine-kill', 3], ['engine-pause', 2], ['agent-kill', 2], ['agent-pause', 2], ...serverOnly],
    [400, 1_600],
  );
  lane(
    'network',
    [
      ['link-blackhole', 2],
      ['link-delay', 2],
      ['link-cut', 2],
      ['link-flaky', 2],
      ['link-refuse', 1],
    ],
    [300, 1_200],
  );
  return plan.sort((a, b) => a.at - b.at);
}

async function execute(system: SystemUnderTest, fault: PlannedFault): Promise<void> {
  switch (fault.kind) {
    case 'engine-kill':
    case 'agent-kill':
      await system.kill(fault.target, fault.durationMs);
      return;
    case 'engine-pause':
    case 'agent-pause':
      await system.pause(fault.target, fault.durationMs);
      return;
    case 'journal-fsync':
      if (await system.injectFaults({ failNextFsyncs: fault.amount }))
        system.note(fault.kind, 'engine', `next ${fault.amount} fdatasync fail with EIO`);
      return;
    case 'journal-write':
      if (await system.injectFaults({ failNextWrites: fault.amount }))
        system.note(fault.kind, 'engine', `next ${fault.amount} writes fail with EIO`);
      return;
    case 'clock-jump':
      if (await system.injectFaults({ clockOffsetMs: fault.amount })) {
        system.note(
          fault.kind,
          'engine',
          `${fault.amount > 0 ? '+' : ''}${fault.amount / 60_000} min for ${fault.durationMs} ms`,
        );
        await sleep(fault.durationMs);
        await system.injectFaults({ clockOffsetMs: 0 });
      }
      return;
    default:
      break;
  }
  const proxy = system.proxies.get(fault.target);
  if (!proxy) return;
  system.note(
    fault.kind,
    fault.target,
    fault.durationMs > 0 ? `${fault.durationMs} ms${fault.amount ? ` (${fault.amount})` : ''}` : '',
  );
  switch (fault.kind) {
    case 'link-cut':
      proxy.cutAll();
      return;
    case 'link-blackhole':
      proxy.blackhole = true;
      break;
    case 'link-refuse':
      proxy.refuse = true;
      break;
    case 'link-delay':
      proxy.delayMs = fault.amount;
      break;
    case 'link-flaky':
      proxy.cutChance = fault.amount;
      break;
  }
  await sleep(fault.durationMs);
  if (fault.kind === 'link-blackhole') proxy.cutAll(); // live connections stalled in the blackhole
  proxy.heal();
}

/** Runs the plan's lanes from `startedAt` (wall ms); resolves when both lanes are done. */
export async function runFaults(
  system: SystemUnderTest,
  plan: readonly PlannedFault[],
  startedAt: number,
): Promise<void> {
  const runLane = async (lane: 'process' | 'network') => {
    for (const fault of plan.filter((item) => item.lane === lane)) {
      await sleep(startedAt + fault.at - now());
      await execute(system, fault);
    }
  };
  await Promise.all([runLane('process'), runLane('network')]);
}
