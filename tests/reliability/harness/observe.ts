// What the checks compare: the live state read over HTTP, the engine's journal and each store agent's
// journal read without changing them (read-only file operations, as the replay CLI reads), and the
// replay CLI's own verdicts (`rebuild --json`, `verify --json`) run as child processes.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { JournalRecord } from '../../../storage/journal.js';
import { nodeFileOps } from '../../../storage/file-ops.js';
import { openJournalReadOnly } from '../../../scripts/replay/journal-source.js';
import type { TillEvent } from '../../../store-agent/till-events.js';
import { tillEventOf, tillRequestOf } from '../../../store-agent/till-events.js';
import { ROOT, keys } from '../../support/store-agent-processes.js';
import type { LevelRef } from './history.js';
import { levelKey } from './history.js';
import { attempt } from './http.js';

export interface LiveLevel {
  readonly onHand: number;
  readonly reserved: number;
  readonly safetyStock: number;
  readonly available: number;
  readonly version: number;
}

export interface LiveReservation {
  readonly status: string;
  readonly expiresAt: string;
  readonly lines: readonly { readonly sku: string; readonly locationId: string; readonly quantity: number }[];
}

export interface LiveState {
  readonly readAt: number;
  readonly levels: Map<string, LiveLevel>;
  readonly reservations: Map<string, LiveReservation>;
  /** Last applied till seq per store. */
  readonly stores: Map<string, number>;
}

async function getJson(
  base: string,
  route: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  for (let tries = 1; ; tries++) {
    const result = await attempt(base, { method: 'GET', path: route, key: keys.reader, timeoutMs: 10_000 });
    if (result.kind === 'answer') return { status: result.answer.status, json: result.answer.json };
    if (tries >= 5) throw new Error(`GET ${route}: ${result.error} ${result.detail}`);
  }
}

/** Reads every level, every reservation named in `reservationIds` and every store's position. */
export async function readLiveState(
  engineUrl: string,
  levels: readonly LevelRef[],
  reservationIds: Iterable<string>,
  stores: readonly string[],
): Promise<LiveState> {
  const readAt = Date.now();
  const live: LiveState = { readAt, levels: new Map(), reservations: new Map(), stores: new Map() };
  for (const level of levels) {
    const { status, json } = await getJson(engineUrl, `/v1/locations/${level.locationId}/stock/${level.sku}`);
    if (status !== 200) throw new Error(`level ${levelKey(level)}: ${status}`);
    live.levels.set(levelKey(level), {
      onHand: Number(json['onHand']),
      reserved: Number(json['reserved']),
      safetyStock: Number(json['safetyStock']),
      available: Number(json['available']),
      version: Number(json['version']),
    });
  }
  for (const id of reservationIds) {
    const { status, json } = await getJson(engineUrl, `/v1/reservations/${id}`);
    if (status === 404) continue;
    if (status !== 200) throw new Error(`reservation ${id}: ${status}`);
    live.reservations.set(id, {
      status: String(json['status']),
      expiresAt: String(json['expiresAt']),
      lines: json['lines'] as LiveReservation['lines'],
    });
  }
  for (const storeId of stores) {
    const { json } = await getJson(engineUrl, `/v1/stores/${storeId}`);
    live.stores.set(storeId, Number(json['lastSeq']));
  }
  return live;
}

/** Every durable record of a file journal, read without changing a byte (safe while its writer runs idle). */
export async function readJournalRecords(journalDir: string): Promise<JournalRecord[]> {
  const { journal } = await openJournalReadOnly(journalDir, nodeFileOps);
  const records: JournalRecord[] = [];
  try {
    for await (const record of journal.read(1)) records.push(record);
  } finally {
    await journal.close();
  }
  return records;
}

export interface AgentEvent extends TillEvent {
  /** The till's Idempotency-Key for the request that recorded it. */
  readonly key: string | undefined;
}

export async function readAgentEvents(agentDataDir: string): Promise<AgentEvent[]> {
  const records = await readJournalRecords(path.join(agentDataDir, 'journal'));
  return records.map((record) => ({ ...tillEventOf(record), key: tillRequestOf(record)?.key }));
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly json: Record<string, unknown> | undefined;
}

/** `node --import tsx scripts/replay.ts <args>`, bounded by `timeoutMs`. */
export function runReplayCli(args: readonly string[], timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}
