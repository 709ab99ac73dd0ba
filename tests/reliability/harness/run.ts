// One chaos run: start the engine and the store agents as child processes, set up a small chain, run
// the seeded workload while the seeded faults play, heal, crash the engine once more, then read
// everything back and run the six checks (checks.ts). A run is named by its seed: the same seed gives
// the same workload decisions and the same faults at the same offsets.
import { waitUntil } from '../../support/store-agent-processes.js';
import type { CheckInput, CheckReport } from './checks.js';
import { runChecks } from './checks.js';
import type { PlannedFault } from './faults.js';
import { planFaults, runFaults } from './faults.js';
import { History } from './history.js';
import { attempt } from './http.js';
import type { AgentEvent, LiveState } from './observe.js';
import { readAgentEvents, readJournalRecords, readLiveState, runReplayCli } from './observe.js';
import { Rng, now, sleep } from './rng.js';
import type { FaultKind } from './system.js';
import { SystemUnderTest } from './system.js';
import { Workload } from './workload.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ChaosOptions {
  readonly seed: number;
  /** How long the workload runs with faults (the run takes longer: start, heal, checks). */
  readonly durationMs: number;
  readonly clients: number;
  /** Inject faults at all. */
  readonly faults: boolean;
  /** Journal failures and clock jumps through the server's FAULT_INJECTION=1 hook. */
  readonly serverFaults: boolean;
  readonly exclude?: readonly FaultKind[] | undefined;
  /** Keep the data directories even when the run passes. */
  readonly keepData?: boolean | undefined;
  readonly log?: ((line: string) => void) | undefined;
  /** Return what the checks saw (for the checks' own tests). */
  readonly captureInput?: boolean | undefined;
}

export interface ChaosReport {
  readonly seed: number;
  readonly options: ChaosOptions;
  readonly wallMs: number;
  readonly operations: Record<string, Record<string, number>>;
  readonly totalOperations: number;
  readonly plannedFaults: number;
  readonly faults: Record<string, number>;
  readonly engineRecoveriesMs: readonly number[];
  readonly agentRecoveriesMs: readonly number[];
  readonly journalRecords: number;
  readonly tillEvents: number;
  readonly checks: CheckReport;
  readonly reproduce: string;
  /** Kept when the run failed (or keepData). */
  readonly dataDir: string | undefined;
  /** The engine's last output lines, when the run failed. */
  readonly engineOutput: string | undefined;
  readonly input?: CheckInput | undefined;
}

export const STORES = ['S1', 'S2'] as const;
const OFFLINE_BUFFER = 2;

export function reproduction(options: ChaosOptions): string {
  const flags = [
    `--seed ${options.seed}`,
    '--runs 1',
    `--duration ${options.durationMs}`,
    `--clients ${options.clients}`,
    ...(options.faults ? [] : ['--no-faults']),
    ...(options.serverFaults ? [] : ['--no-server-faults']),
    ...(options.exclude?.length ? [`--exclude ${options.exclude.join(',')}`] : []),
  ];
  return `npm run chaos -- ${flags.join(' ')}`;
}

async function agentBacklog(url: string): Promise<number | undefined> {
  const result = await attempt(url, { method: 'GET', path: '/healthz', timeoutMs: 2_000 });
  if (result.kind !== 'answer') return undefined;
  const forwarding = result.answer.json['forwarding'] as { backlog?: number } | undefined;
  return forwarding?.backlog;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = now();
  const rng = new Rng(options.seed);
  const system = new SystemUnderTest({ stores: STORES, faultInjection: options.serverFaults }, options.seed);
  const history = new History();
  let plan: PlannedFault[] = [];
  let checks: CheckReport | undefined;
  let journalRecords = 0;
  let tillEvents = 0;
  let failed = true;
  let engineOutput: string | undefined;
  let input: CheckInput | undefined;
  try {
    await system.startEngine();
    const workload = new Workload(system, history, rng.fork('workload'), {
      skus: ['A', 'B', 'C'],
      warehouses: ['W1'],
      stores: STORES,
      clients: options.clients,
      thinkMs: [2, 20],
      ttlSeconds: [1, 3],
      initialOnHand: [8, 25],
    });
    await workload.setup();
    await system.startAgents();
    plan = options.faults
      ? planFaults(rng.fork('faults'), {
          durationMs: options.durationMs,
          stores: STORES,
          serverFaults: options.serverFaults,
          exclude: options.exclude,
        })
      : [];
    log(`seed ${options.seed}: ${plan.length} faults planned over ${options.durationMs} ms`);
    const workloadStart = now();
    await Promise.all([
      workload.run(workloadStart + options.durationMs),
      runFaults(system, plan, workloadStart),
    ]);

    log(`seed ${options.seed}: workload done (${history.ops.length} operations); healing`);
    await system.heal();
    // Holds that outlive the run, so the final state has reservations in force.
    const finalRng = rng.fork('final');
    for (const level of workload.levels) await workload.reserve('final', finalRng, level, 1, 3_000, 30_000);
    // Every short hold's deadline passes; the expiry worker and the retried saga steps settle.
    const lastShort = Math.max(
      0,
      ...history.ops.filter((op) => op.kind === 'reserve' && op.ttlSeconds <= 3).map((op) => op.returnedAt),
    );
    await sleep(lastShort + 3_000 + 2_000 - now());
    for (const storeId of STORES) {
      await waitUntil(
        `agent ${storeId} backlog to drain`,
        async () => (await agentBacklog(system.agentUrl(storeId))) === 0,
        60_000,
        100,
      );
    }
    // One more crash: the checks read the state the engine recovered.
    await system.kill('engine', 0);
    await sleep(1_500); // maintenance retries any queued saga step once a second

    await system.stopAgents();
    const agentEvents = new Map<string, AgentEvent[]>();
    for (const storeId of STORES)
      agentEvents.set(storeId, await readAgentEvents(system.agentDataDir(storeId)));
    tillEvents = [...agentEvents.values()].reduce((sum, events) => sum + events.length, 0);

    const journalDir = path.join(system.engineDataDir, 'journal');
    let journal = await readJournalRecords(journalDir);
    let live: LiveState | undefined;
    let liveDoneAt = 0;
    for (let round = 0; round < 5; round++) {
      const ids = new Set<string>();
      for (const record of journal)
        if (record.stream.startsWith('reservation/')) ids.add(record.stream.slice('reservation/'.length));
      for (const op of history.ops) if (op.kind === 'reserve' && op.reservationId) ids.add(op.reservationId);
      live = await readLiveState(system.engineUrl, workload.levels, ids, STORES);
      liveDoneAt = now();
      const after = await readJournalRecords(journalDir);
      const stable = after.length === journal.length;
      journal = after;
      if (stable) break;
      await sleep(500);
    }
    journalRecords = journal.length;
    const rebuild = await runReplayCli(['rebuild', '--data', system.engineDataDir, '--json', '--quiet']);
    const verify = await runReplayCli(['verify', '--data', system.engineDataDir, '--json', '--quiet']);
    log(`seed ${options.seed}: checking ${history.ops.length} operations, ${journal.length} journal records`);
    input = {
      history: history.ops,
      levels: workload.levels,
      stores: STORES,
      journal,
      agentEvents,
      live: live as LiveState,
      liveDoneAt,
      clock: system.clock,
      storageFaultDuring: (a, b) => system.storageFaultDuring(a, b),
      rebuild,
      verify,
      offlineBuffer: OFFLINE_BUFFER,
    };
    checks = runChecks(input);
    failed = checks.anomalies.length > 0;
    if (failed || options.keepData) {
      // Everything the checks saw besides the journals (kept beside them), to re-check without a rerun.
      await writeFile(
        path.join(system.dir, 'check-input.json'),
        JSON.stringify({
          history: history.ops,
          levels: workload.levels,
          live: {
            ...live,
            levels: [...(live?.levels ?? [])],
            reservations: [...(live?.reservations ?? [])],
            stores: [...(live?.stores ?? [])],
          },
          liveDoneAt,
          clockChanges: system.clock.changes,
          storageFaults: system.storageFaults,
          faults: system.faults,
          plan,
        }),
      );
    }
  } catch (error) {
    checks = {
      anomalies: [
        {
          check: 1,
          message: `the run itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        },
      ],
      levels: [],
      unknownApplied: 0,
      unknownNotApplied: 0,
      confirmedAtRisk: 0,
    };
  } finally {
    engineOutput = failed ? system.engine?.output.slice(-4_000) : undefined;
    system.keepData = failed || options.keepData === true;
    await system.close();
  }
  const operations: Record<string, Record<string, number>> = {};
  for (const op of history.ops) {
    const byOutcome = (operations[op.kind] ??= {});
    byOutcome[op.outcome] = (byOutcome[op.outcome] ?? 0) + 1;
  }
  const faults: Record<string, number> = {};
  for (const fault of system.faults) faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
  return {
    seed: options.seed,
    options,
    wallMs: Math.round(now() - started),
    operations,
    totalOperations: history.ops.length,
    plannedFaults: plan.length,
    faults,
    engineRecoveriesMs: system.recoveries,
    agentRecoveriesMs: system.agentRecoveries,
    journalRecords,
    tillEvents,
    checks: checks as CheckReport,
    reproduce: reproduction(options),
    dataDir: failed || options.keepData ? system.dir : undefined,
    engineOutput,
    ...(options.captureInput ? { input } : {}),
  };
}
