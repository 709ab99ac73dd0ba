// The invariants, checked over HTTP after each scenario against what the test itself did:
//   - no oversell: every level has reserved <= onHand and onHand - reserved - safetyStock >= 0;
//   - reserved equals the units of the scenario's still-active reservations at that level, read back
//     one by one from GET /v1/reservations/{id};
//   - conservation: onHand equals what was seeded, plus the till events the engine acknowledged,
//     minus the units sold by confirmed reservations (nothing lost, nothing applied twice).
import type { ApiClient } from './client.js';
import { chunks, mapLimit } from './client.js';
import type { LedgerReadBack } from './ledger.js';
import { levelKey } from './ledger.js';

export interface LevelView {
  readonly sku: string;
  readonly locationId: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly safetyStock: number;
  readonly available: number;
  readonly version: number;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface InvariantReport {
  readonly checked: boolean;
  readonly ok: boolean;
  readonly levels: number;
  readonly oversold: number;
  readonly negativeAvailable: number;
  readonly reservedMismatches: number;
  readonly onHandMismatches: number;
  readonly reservations: {
    readonly created: number;
    readonly readBack: number;
    readonly notFound: number;
    readonly statusMismatches: number;
    /** Requests whose answer was lost when a phase stopped, sent again with the same key. */
    readonly resentAfterPhase: number;
    readonly byStatus: Record<string, number>;
  };
  readonly checks: Check[];
  readonly examples: string[];
}

/** Every level of these SKUs, through the batch read (100 SKUs per request). */
export async function readLevels(client: ApiClient, skus: readonly string[]): Promise<LevelView[]> {
  const pages = await mapLimit(chunks(skus, 100), 8, async (page) => {
    const body = (await client.expect(
      'GET',
      `/v1/stock?skus=${page.map(encodeURIComponent).join(',')}`,
      [200],
    )) as {
      items: { locations: LevelView[] }[];
    };
    return body.items.flatMap((item) => item.locations);
  });
  return pages.flat();
}

/**
 * Waits (at most 15 s) until the server is idle: no request in flight but our own /metrics, and no
 * command waiting in an actor's mailbox. A confirm or cancel is answered once the reservation and its
 * holds are updated, but one cut off when a phase stopped may still be running.
 */
export async function waitUntilIdle(baseUrl: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? '0');
    if (gauge('stockline_http_requests_in_flight') <= 1 && gauge('stockline_engine_mailbox_depth') === 0)
      return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface Expectations {
  /** onHand of each level as seeded (levels of the scenario's SKUs). */
  readonly seeded: ReadonlyMap<string, number>;
  /** Net change of onHand from the till events the engine acknowledged. */
  readonly tillDeltas?: ReadonlyMap<string, number>;
  /** The scenario's reservations as read back; absent when it made none. */
  readonly ledger?: LedgerReadBack;
  readonly created?: number;
  readonly resent?: number;
  readonly checks?: readonly Check[];
}

export function checkLevels(levels: readonly LevelView[], expect: Expectations): InvariantReport {
  const examples: string[] = [...(expect.ledger?.examples ?? [])];
  const note = (text: string) => {
    if (examples.length < 10) examples.push(text);
  };
  let oversold = 0;
  let negativeAvailable = 0;
  let reservedMismatches = 0;
  let onHandMismatches = 0;
  const seen = new Set<string>();
  for (const level of levels) {
    const key = levelKey(level.sku, level.locationId);
    seen.add(key);
    if (level.reserved > level.onHand) {
      oversold++;
      note(`${key}: reserved ${level.reserved} > onHand ${level.onHand}`);
    }
    if (level.onHand - level.reserved - level.safetyStock < 0) {
      negativeAvailable++;
      note(
        `${key}: onHand ${level.onHand} - reserved ${level.reserved} - safetyStock ${level.safetyStock} < 0`,
      );
    }
    const held = expect.ledger?.heldByLevel.get(key) ?? 0;
    if (level.reserved !== held) {
      reservedMismatches++;
      note(`${key}: reserved ${level.reserved}, but the test's active reservations hold ${held}`);
    }
    const expectedOnHand =
      (expect.seeded.get(key) ?? 0) +
      (expect.tillDeltas?.get(key) ?? 0) -
      (expect.ledger?.confirmedByLevel.get(key) ?? 0);
    if (level.onHand !== expectedOnHand) {
      onHandMismatches++;
      note(`${key}: onHand ${level.onHand}, expected ${expectedOnHand} (seeded + till events - confirmed)`);
    }
  }
  for (const key of expect.seeded.keys()) {
    if (!seen.has(key)) {
      onHandMismatches++;
      note(`${key}: seeded but missing from the batch read`);
    }
  }
  const ledger = expect.ledger;
  const checks: Check[] = [
    {
      name: 'no oversell',
      ok: oversold === 0 && negativeAvailable === 0,
      detail: `${levels.length} levels: ${oversold} with reserved > onHand, ${negativeAvailable} with negative availability`,
    },
    {
      name: 'reserved = sum of active reservations',
      ok: reservedMismatches === 0 && (ledger?.notFound ?? 0) === 0,
      detail: ledger
        ? `${ledger.readBack} reservations read back, ${reservedMismatches} levels differ, ${ledger.notFound} not found`
        : `no reservations: ${reservedMismatches} levels with reserved != 0`,
    },
    {
      name: 'onHand = seeded + till events - confirmed',
      ok: onHandMismatches === 0,
      detail: `${onHandMismatches} of ${levels.length} levels differ`,
    },
    ...(ledger
      ? [
          {
            name: 'reservation status as answered',
            ok: ledger.statusMismatches === 0,
            detail: `${ledger.statusMismatches} reservations differ from the last answer received`,
          },
        ]
      : []),
    ...(expect.checks ?? []),
  ];
  return {
    checked: true,
    ok: checks.every((check) => check.ok),
    levels: levels.length,
    oversold,
    negativeAvailable,
    reservedMismatches,
    onHandMismatches,
    reservations: {
      created: expect.created ?? 0,
      readBack: ledger?.readBack ?? 0,
      notFound: ledger?.notFound ?? 0,
      statusMismatches: ledger?.statusMismatches ?? 0,
      resentAfterPhase: expect.resent ?? 0,
      byStatus: ledger?.byStatus ?? {},
    },
    checks,
    examples,
  };
}
