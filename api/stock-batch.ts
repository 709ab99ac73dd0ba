// Back-office batch writes (counts or adjustments of many SKUs at one location) with two policies:
//
// - per_row: every row is sent to its stock level on its own; the answer lists each row's outcome.
// - all_or_nothing: every row is first checked against the current levels with the engine's own
//   pure rule book (`decide`), so a batch with a bad row applies nothing. Rows are then applied; if
//   a row still fails (a concurrent change between check and apply), the rows already applied are
//   compensated with correcting events, so the batch as a whole leaves stock as it found it. The
//   ledger keeps both the change and its correction: history is never rewritten.
//
// Rows of one SKU are applied in order; different SKUs run concurrently (they are different actors,
// and the journal's group commit makes one fsync serve many of them). With an Idempotency-Key each
// row and each correction gets a derived key, so a retried batch replays rather than reapplies; a
// retry whose rows no longer pass the check (because the first attempt changed the levels) is told
// apart from a new failing batch by sending the first failing row with its key: the engine replays it
// if the batch ran before and refuses it, changing nothing, if not.
import type { StockCommand } from '../engine/domain/stock-commands.js';
import { decide } from '../engine/domain/stock-commands.js';
import type { StockState } from '../engine/domain/stock.js';
import { evolve, initialStockState } from '../engine/domain/stock.js';
import { InventoryError, isInventoryError } from '../engine/errors.js';
import type { Idempotency, StockCommandResult, StockLevelView } from '../engine/types.js';
import type { InventoryEngine, StockCommandBody } from './engine-port.js';
import { stepIdempotency } from './idempotency.js';
import type { ProblemDocument } from './problem.js';
import { ApiError, mapError } from './problem.js';
import type { StockBatchBody, StockBatchRow } from './schemas.js';

export type RowOutcome = 'applied' | 'failed' | 'not_applied' | 'rolled_back';

export interface BatchRowResult {
  readonly index: number;
  readonly sku: string;
  readonly outcome: RowOutcome;
  readonly level?: StockLevelView;
  readonly problem?: ProblemDocument;
}

export interface StockBatchAnswer {
  readonly policy: StockBatchBody['policy'];
  readonly applied: number;
  readonly failed: number;
  readonly rows: BatchRowResult[];
}

export interface StockBatchOptions {
  /** Who is writing, recorded on every event. */
  readonly by: string;
  readonly idempotency?: Idempotency | undefined;
  /** Called once per engine command with its outcome, for metrics. */
  readonly onCommand?: (command: StockCommandBody['type'], outcome: string) => void;
}

export const commandOfRow = (row: StockBatchRow, by: string): StockCommandBody =>
  row.type === 'count'
    ? {
        type: 'count',
        onHand: row.onHand,
        safetyStock: row.safetyStock,
        expectedVersion: row.expectedVersion,
        reference: row.reference,
        by,
      }
    : {
        type: 'adjust',
        delta: row.delta,
        reason: row.reason,
        expectedVersion: row.expectedVersion,
        reference: row.reference,
        by,
      };

const stateOfView = (view: StockLevelView | undefined): StockState =>
  view
    ? {
        ...initialStockState,
        onHand: view.onHand,
        reserved: view.reserved,
        safetyStock: view.safetyStock,
        version: view.version,
        updatedAt: view.updatedAt,
      }
    : initialStockState;

const rowProblem = (error: unknown): ProblemDocument => {
  const mapped = mapError(error);
  if (mapped.unexpected) throw error;
  return mapped.problem;
};

/** Indexes of rows grouped by SKU, each group in request order. */
function groupsBySku(rows: readonly StockBatchRow[]): number[][] {
  const groups = new Map<string, number[]>();
  rows.forEach((row, index) => {
    const group = groups.get(row.sku);
    if (group) group.push(index);
    else groups.set(row.sku, [index]);
  });
  return [...groups.values()];
}

/**
 * Checks every row with the engine's pure `decide` against the levels as they are now (rows of one
 * SKU see the effect of the rows before them). Returns the problem of each row that would fail.
 */
async function precheck(
  engine: InventoryEngine,
  locationId: string,
  rows: readonly StockBatchRow[],
  by: string,
  at: string,
): Promise<Map<number, ProblemDocument>> {
  const failures = new Map<number, ProblemDocument>();
  const groups = groupsBySku(rows);
  // All the levels at once: in an HTTP worker each read is an IPC round trip.
  const views = await Promise.all(
    groups.map((group) => {
      const first = rows[group[0] ?? 0];
      return first ? engine.level(first.sku, locationId) : undefined;
    }),
  );
  for (const [groupIndex, group] of groups.entries()) {
    let state = stateOfView(views[groupIndex]);
    for (const index of group) {
      const row = rows[index];
      if (!row) continue;
      try {
        const command = { ...commandOfRow(row, by), at } as StockCommand;
        for (const event of decide(command, state)) state = evolve(state, event);
      } catch (error) {
        if (!isInventoryError(error)) throw error;
        failures.set(index, rowProblem(error));
      }
    }
  }
  return failures;
}

/** Applies a batch at one location; throws BATCH_REJECTED (with every row's outcome) when all_or_nothing fails. */
export async function applyStockBatch(
  engine: InventoryEngine,
  locationId: string,
  body: StockBatchBody,
  options: StockBatchOptions,
): Promise<{ answer: StockBatchAnswer; replayed: boolean }> {
  if (!(await engine.location(locationId))) {
    throw new InventoryError('LOCATION_NOT_FOUND', `location ${locationId} is not registered`, {
      locationId,
    });
  }
  const { rows, policy } = body;
  const atomic = policy === 'all_or_nothing';
  const results: (BatchRowResult | undefined)[] = rows.map(() => undefined);

  const send = async (command: StockCommandBody, sku: string, step: string): Promise<StockCommandResult> => {
    try {
      const idempotency = options.idempotency ? stepIdempotency(options.idempotency, step) : undefined;
      const result = await engine.execute(sku, locationId, command, idempotency);
      options.onCommand?.(command.type, result.replayed ? 'replayed' : 'ok');
      return result;
    } catch (error) {
      options.onCommand?.(command.type, isInventoryError(error) ? error.code : 'error');
      throw error;
    }
  };

  let allReplayed = true;
  const applied: { index: number; result: StockCommandResult; before: StockLevelView | undefined }[] = [];

  if (atomic) {
    const failures = await precheck(
      engine,
      locationId,
      rows,
      options.by,
      new Date(await engine.clock.now()).toISOString(),
    );
    const [probeIndex, probeProblem] = [...failures][0] ?? [];
    const probeRow = probeIndex === undefined ? undefined : rows[probeIndex];
    if (probeIndex !== undefined && probeRow && probeProblem) {
      // A retry of a batch that was applied finds the levels already changed, so its rows no longer
      // pass the check. Sending the first failing row with its own derived key tells the two apart:
      // the engine replays it if the batch ran before, and refuses it (changing nothing) if not.
      let probe: StockCommandResult | undefined;
      let refusal: ProblemDocument = probeProblem;
      if (options.idempotency) {
        const before = await engine.level(probeRow.sku, locationId);
        try {
          probe = await send(commandOfRow(probeRow, options.by), probeRow.sku, `row-${probeIndex}`);
          applied.push({ index: probeIndex, result: probe, before });
          allReplayed &&= probe.replayed;
          results[probeIndex] = {
            index: probeIndex,
            sku: probeRow.sku,
            outcome: 'applied',
            level: probe.level,
          };
        } catch (error) {
          refusal = rowProblem(error);
        }
      }
      if (!probe) {
        throw rejection(
          rows.map((row, index) => {
            const problem = index === probeIndex ? refusal : failures.get(index);
            return problem
              ? { index, sku: row.sku, outcome: 'failed' as const, problem }
              : { index, sku: row.sku, outcome: 'not_applied' as const };
          }),
          `${failures.size} of ${rows.length} rows would fail; nothing was applied`,
        );
      }
    }
  }

  let aborted = false;
  await Promise.all(
    groupsBySku(rows).map(async (group) => {
      for (const index of group) {
        const row = rows[index];
        if (!row) continue;
        if (results[index]) continue; // the replay probe already sent it
        if (aborted) {
          results[index] = { index, sku: row.sku, outcome: 'not_applied' };
          continue;
        }
        const before = await engine.level(row.sku, locationId);
        try {
          const result = await send(commandOfRow(row, options.by), row.sku, `row-${index}`);
          allReplayed &&= result.replayed;
          applied.push({ index, result, before });
          results[index] = { index, sku: row.sku, outcome: 'applied', level: result.level };
        } catch (error) {
          results[index] = { index, sku: row.sku, outcome: 'failed', problem: rowProblem(error) };
          if (atomic) aborted = true;
        }
      }
    }),
  );

  if (atomic && aborted) {
    // Undo in reverse order of application, so each level returns through the states it passed.
    const undoFailures: string[] = [];
    for (const { index, result, before } of [...applied].reverse()) {
      const row = rows[index];
      if (!row) continue;
      try {
        const level = await compensate(row, result, before, index, send, options.by);
        results[index] = { index, sku: row.sku, outcome: 'rolled_back', level };
      } catch (error) {
        undoFailures.push(`row ${index}: ${error instanceof Error ? error.message : String(error)}`);
        results[index] = {
          index,
          sku: row.sku,
          outcome: 'applied',
          level: result.level,
          problem: rowProblem(error),
        };
      }
    }
    throw rejection(
      results.map(
        (result, index) => result ?? { index, sku: rows[index]?.sku ?? '', outcome: 'not_applied' },
      ),
      undoFailures.length === 0
        ? 'A row failed while applying; the rows already applied were rolled back'
        : `A row failed while applying and ${undoFailures.length} rows could not be rolled back: ${undoFailures.join('; ')}`,
    );
  }

  const final = results.map(
    (result, index) => result ?? { index, sku: rows[index]?.sku ?? '', outcome: 'not_applied' as const },
  );
  return {
    answer: {
      policy,
      applied: final.filter((row) => row.outcome === 'applied').length,
      failed: final.filter((row) => row.outcome === 'failed').length,
      rows: final,
    },
    replayed: options.idempotency !== undefined && applied.length > 0 && allReplayed,
  };
}

/** The correcting command(s) that cancel one applied row; returns the level afterwards. */
async function compensate(
  row: StockBatchRow,
  result: StockCommandResult,
  before: StockLevelView | undefined,
  index: number,
  send: (command: StockCommandBody, sku: string, step: string) => Promise<StockCommandResult>,
  by: string,
): Promise<StockLevelView> {
  const reference = `rollback of batch row ${index}`;
  let level = result.level;
  let onHandChange = 0;
  let safetyStockChanged = false;
  for (const event of result.events) {
    if (event.type === 'StockAdjusted') onHandChange += event.delta;
    if (event.type === 'StockCounted') onHandChange += event.onHand - event.previousOnHand;
    if (event.type === 'SafetyStockSet') safetyStockChanged = true;
  }
  if (onHandChange !== 0) {
    // A relative correction, so sales recorded in between are kept.
    const undone = await send(
      { type: 'adjust', delta: -onHandChange, reason: 'correction', reference, by, allowNegative: true },
      row.sku,
      `undo-${index}`,
    );
    level = undone.level;
  }
  if (safetyStockChanged) {
    const undone = await send(
      { type: 'setSafetyStock', safetyStock: before?.safetyStock ?? 0, reference, by },
      row.sku,
      `undo-safety-${index}`,
    );
    level = undone.level;
  }
  return level;
}

const rejection = (rows: BatchRowResult[], detail: string): ApiError =>
  new ApiError('BATCH_REJECTED', detail, {
    details: {
      policy: 'all_or_nothing',
      applied: rows.filter((row) => row.outcome === 'applied').length,
      failed: rows.filter((row) => row.outcome === 'failed').length,
      rows,
    },
  });
