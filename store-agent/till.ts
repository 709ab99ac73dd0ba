// A command-line till: posts till events to the local store agent and prints the seq each got.
//   node --import tsx store-agent/till.ts [--agent http://127.0.0.1:7070] <command> ...
// Commands:
//   sale SKU QTY                 a sale of QTY units
//   return SKU QTY               a customer return
//   receipt SKU QTY              goods received
//   adjust SKU DELTA [REASON]    a signed correction (REASON: damage, correction, transfer, ...)
//   count SKU UNITS              a physical count (absolute)
//   stock [SKU]                  the agent's local read model
//   health                       the agent's /healthz
// The agent's address comes from --agent, else AGENT_URL, else http://127.0.0.1:${AGENT_PORT or 7070}.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adjustmentReasons } from '../engine/domain/stock.js';
import type { TillEventInput } from './till-events.js';

const USAGE = `Usage: till.ts [--agent URL] <command>
  sale SKU QTY | return SKU QTY | receipt SKU QTY | adjust SKU DELTA [REASON] | count SKU UNITS
  stock [SKU] | health`;

export class TillUsageError extends Error {}

const integer = (text: string | undefined, what: string): number => {
  if (text === undefined || !/^-?\d+$/.test(text))
    throw new TillUsageError(`${what} must be an integer (got ${text ?? 'nothing'})`);
  return Number(text);
};

/** The till event a command line describes. */
export function eventOf(args: readonly string[]): TillEventInput {
  const [command, sku, amount, reason, ...extra] = args;
  if (sku === undefined) throw new TillUsageError(`${command ?? 'a command'} needs a SKU`);
  const tooMany = (count: number) => {
    if (args.length > count) throw new TillUsageError(`too many arguments for ${command}`);
  };
  switch (command) {
    case 'sale':
    case 'return':
    case 'receipt':
      tooMany(3);
      return { type: command, sku, quantity: integer(amount, 'QTY') };
    case 'count':
      tooMany(3);
      return { type: 'count', sku, quantity: integer(amount, 'UNITS') };
    case 'adjust': {
      if (extra.length > 0) throw new TillUsageError('too many arguments for adjust');
      if (reason !== undefined && !(adjustmentReasons as readonly string[]).includes(reason)) {
        throw new TillUsageError(`REASON must be one of ${adjustmentReasons.join(', ')}`);
      }
      return { type: 'adjustment', sku, quantity: integer(amount, 'DELTA'), ...(reason ? { reason } : {}) };
    }
    default:
      throw new TillUsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * Posts one event with an Idempotency-Key, retrying a few times if the agent cannot be reached or
 * dies before answering: the key makes sure a retry never records the sale twice.
 */
async function postOnce(agent: string, event: TillEventInput): Promise<Response> {
  const key = `till-${randomUUID()}`;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(`${agent}/till/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let agent = process.env['AGENT_URL'] ?? `http://127.0.0.1:${process.env['AGENT_PORT'] ?? '7070'}`;
  const args = [...argv];
  const flag = args.findIndex((arg) => arg === '--agent' || arg.startsWith('--agent='));
  if (flag >= 0) {
    const [value] = args[flag]?.startsWith('--agent=') ? [args[flag]?.slice(8)] : [args[flag + 1]];
    if (!value) throw new TillUsageError('--agent needs a URL');
    agent = value.replace(/\/+$/, '');
    args.splice(flag, args[flag]?.startsWith('--agent=') ? 1 : 2);
  }
  const command = args[0];
  let response: Response;
  if (command === 'stock' || command === 'health') {
    const sku = args[1];
    const target =
      command === 'health' ? '/healthz' : `/stock${sku ? `?sku=${encodeURIComponent(sku)}` : ''}`;
    response = await fetch(`${agent}${target}`);
  } else {
    response = await postOnce(agent, eventOf(args));
  }
  const text = await response.text();
  if (!response.ok) {
    console.error(`${response.status}: ${text}`);
    return 1;
  }
  const body = JSON.parse(text) as Record<string, unknown>;
  if (command === 'stock' || command === 'health') {
    console.log(JSON.stringify(body, null, 2));
  } else {
    const { seq, type, sku, quantity, occurredAt } = body;
    console.log(
      `recorded seq ${String(seq)}: ${String(type)} ${String(sku)} ${String(quantity)} at ${String(occurredAt)}`,
    );
  }
  return 0;
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof TillUsageError) {
        console.error(`${error.message}\n${USAGE}`);
        process.exit(2);
      }
      const cause = (error as { cause?: { code?: unknown } }).cause;
      console.error(
        `till: ${(error as Error).message}${cause?.code ? ` (${String(cause.code)})` : ''}: is the store agent running?`,
      );
      process.exit(1);
    },
  );
}
