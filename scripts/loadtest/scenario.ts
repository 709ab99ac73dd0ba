// What every scenario is given, and what it hands back.
import type { PhaseResult, PhaseSpec } from './cannon.js';
import { runPhase } from './cannon.js';
import type { ApiClient } from './client.js';
import type { InvariantReport } from './invariants.js';
import type { LoadTestOptions, ScenarioName } from './options.js';

export interface Target {
  readonly url: string;
  /** Admin key: seeding, till events (the admin may write any store), read-back. */
  readonly adminKey: string;
  /** Storefront key: reads and reservations, as the web shop sends them. */
  readonly shopKey: string;
}

export interface ScenarioContext {
  readonly target: Target;
  readonly admin: ApiClient;
  readonly options: LoadTestOptions;
  /** Short id of this run: prefixes SKUs, stores and Idempotency-Keys. */
  readonly runId: string;
  readonly progress: (line: string) => void;
  /** Waits for the snapshot seeding triggered (only when the test started the server). */
  readonly settle?: () => Promise<void>;
}

export interface ScenarioReport {
  readonly name: ScenarioName;
  readonly description: string;
  /** The measured phases (warm-ups are not reported). */
  readonly phases: PhaseResult[];
  /** Headline figures of the scenario, by name. */
  readonly figures: Record<string, number | null>;
  readonly invariants: InvariantReport;
  readonly notes: string[];
}

export type Scenario = (context: ScenarioContext) => Promise<ScenarioReport>;

export type MeasureSpec = Omit<PhaseSpec, 'url' | 'headers' | 'progress' | 'label'> & {
  readonly label: string;
  readonly key: 'shop' | 'admin';
  /** Warm-up seconds; defaults to options.warmup. */
  readonly warmup?: number;
  /** Runs between the warm-up and the measured phase (to settle requests the warm-up left unanswered). */
  readonly afterWarmup?: () => Promise<void>;
};

/** Warms up with the same script (answers discarded), then measures. */
export async function measure(
  context: Pick<ScenarioContext, 'target' | 'options' | 'progress' | 'settle'>,
  spec: MeasureSpec,
): Promise<PhaseResult> {
  await context.settle?.();
  const { key, warmup = context.options.warmup, afterWarmup, ...phase } = spec;
  const headers = {
    authorization: `Bearer ${key === 'shop' ? context.target.shopKey : context.target.adminKey}`,
  };
  const base = { ...phase, url: context.target.url, headers, progress: context.progress };
  if (warmup > 0 && spec.amount === undefined) {
    context.progress(`  [${spec.label}] warming up for ${warmup}s`);
    await runPhase({ ...base, label: `${spec.label} warm-up`, seconds: warmup });
    await afterWarmup?.();
  }
  context.progress(
    `  [${spec.label}] measuring: ${spec.connections} connections, ${spec.amount !== undefined ? `${spec.amount} requests` : `${spec.seconds ?? 10}s`}`,
  );
  return runPhase(base);
}

/** Sleep helper for the bounded waits of the scenarios. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
