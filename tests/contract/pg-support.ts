// PostgreSQL test plumbing: a fresh schema per test (dropped after it), pools named so a test can find and
// kill their backends, and waiting on a condition without fixed sleeps.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL;

export const freshName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`;

/** A pool whose connections carry application_name, so pg_stat_activity can tell them apart. */
export function namedPool(url: string, applicationName: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, application_name: applicationName, max });
  // A backend a test terminates while idle surfaces here; the journal under test reports its own errors.
  pool.on('error', () => undefined);
  return pool;
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** Polls until check() returns a value other than undefined, or fails after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
