// Promise: a malformed journal or snapshot at start-up gives a clear error, never a silent partial load.
// The real server (api/server.ts) is started as a child process on a damaged copy of a data directory it
// wrote itself; the test asserts its exit code and the message it prints, or, where the engine can fall
// back safely (a damaged snapshot over a complete journal), that it serves exactly the state it had.
//
// Guards against: a start-up that skips damaged history and serves what is left; a snapshot that no
// longer matches its journal loaded anyway; errors that do not say which file and where.
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { encodeRecord } from '../../storage/record.js';
import type { JournalRecord } from '../../storage/journal.js';
import {
  ROOT,
  apiKeysEnv,
  freePort,
  http,
  keys,
  makeTemp,
  removeTemp,
} from '../support/store-agent-processes.js';
import { readJournalRecords } from './harness/observe.js';
import { TestServer, seedStock } from './harness/server.js';

interface StartAttempt {
  readonly exitCode: number | null;
  readonly ready: boolean;
  readonly output: string;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts api/server.ts on `dataDir`; resolves when it serves or exits (30 s at most). */
async function startOn(dataDir: string): Promise<StartAttempt> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      API_KEYS: apiKeysEnv,
      DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const outcome = await Promise.race([
    exited.then((code) => ({ exitCode: code, ready: false })),
    new Promise<{ exitCode: null; ready: boolean }>((resolve) => {
      const timer = setTimeout(() => resolve({ exitCode: null, ready: false }), 30_000);
      child.stdout.on('data', () => {
        if (/listening on/.test(output)) {
          clearTimeout(timer);
          resolve({ exitCode: null, ready: true });
        }
      });
    }),
  ]);
  return {
    ...outcome,
    get output() {
      return output;
    },
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('reliability: damaged data directories at start-up (real server process)', function () {
  this.timeout(120_000);
  let base = '';
  let work = '';
  let levelsBefore: Record<string, unknown> = {};
  let records: JournalRecord[] = [];
  const attempts: StartAttempt[] = [];

  const levels = ['A', 'B', 'C'].map((sku) => ({ sku, locationId: 'W1', onHand: 30 }));
  const readLevels = async (url: string) => {
    const result: Record<string, unknown> = {};
    for (const level of levels) {
      const answer = await http(url, 'GET', `/v1/locations/W1/stock/${level.sku}`, { key: keys.reader });
      result[level.sku] = {
        onHand: answer.json['onHand'],
        reserved: answer.json['reserved'],
        version: answer.json['version'],
      };
    }
    return result;
  };

  before(async () => {
    const server = await new TestServer({ SNAPSHOT_EVERY_RECORDS: '10' }).start();
    try {
      await seedStock(server, levels, [{ id: 'W1', type: 'warehouse' }]);
      for (let i = 0; i < 24; i++) {
        const sku = levels[i % 3]?.sku ?? 'A';
        const result = await server.request('POST', `/v1/locations/W1/stock/${sku}/adjustments`, {
          body: { delta: 1 + (i % 4), reason: 'receipt' },
          idempotencyKey: `damage-${i}`,
        });
        expect(result.status, result.text).to.equal(200);
      }
      await server.request('POST', '/v1/reservations', {
        as: 'storefront',
        body: { lines: [{ sku: 'A', quantity: 2, locationId: 'W1' }], ttlSeconds: 3600 },
        idempotencyKey: 'damage-hold',
      });
      levelsBefore = await readLevels(server.url);
      await server.engine.stop(); // graceful: a final snapshot
      work = await makeTemp('damaged');
      base = path.join(work, 'base');
      await cp(server.dataDir, base, { recursive: true });
    } finally {
      await server.close();
    }
    records = await readJournalRecords(path.join(base, 'journal'));
  });
  afterEach(async () => {
    for (const attempt of attempts.splice(0)) await attempt.stop();
  });
  after(() => removeTemp(work));

  let copies = 0;
  const damagedCopy = async (damage: (dir: string) => Promise<void>) => {
    const dir = path.join(work, `copy-${++copies}`);
    await cp(base, dir, { recursive: true });
    await damage(dir);
    return dir;
  };
  const segmentOf = async (dir: string) => {
    const [name] = (await readdir(path.join(dir, 'journal'))).filter((file) => file.endsWith('.jsonl'));
    if (!name) throw new Error('no journal segment');
    return { name, file: path.join(dir, 'journal', name) };
  };
  const start = async (dir: string) => {
    const attempt = await startOn(dir);
    attempts.push(attempt);
    return attempt;
  };
  const expectRefusal = (attempt: StartAttempt, pattern: RegExp) => {
    expect(attempt.ready, `it must not serve:\n${attempt.output}`).to.equal(false);
    expect(attempt.exitCode, `exit code:\n${attempt.output}`).to.equal(1);
    expect(attempt.output).to.match(pattern);
  };

  it('the undamaged copy starts and serves the state it had (the baseline)', async () => {
    const attempt = await start(await damagedCopy(async () => undefined));
    expect(attempt.ready, attempt.output).to.equal(true);
    expect(await readLevels(attempt.url)).to.deep.equal(levelsBefore);
    expect(records.length).to.be.greaterThan(25);
  });

  it('a flipped bit in a record before the tail: exit 1, naming the segment and the byte offset', async () => {
    let offset = 0;
    let segment = '';
    const dir = await damagedCopy(async (copy) => {
      const { name, file } = await segmentOf(copy);
      segment = name;
      const bytes = await readFile(file);
      const lines = bytes.toString('utf8').split('\n');
      offset = Buffer.byteLength(lines.slice(0, 10).join('\n')) + 1; // the 11th record
      const at = offset + 40;
      bytes[at] = (bytes[at] as number) ^ 0x04;
      await writeFile(file, bytes);
    });
    const attempt = await start(dir);
    expectRefusal(attempt, new RegExp(`journal corrupt: segment ${segment} at byte offset ${offset}`));
  });

  it('a record that checks out but names a stream no engine knows: exit 1, naming the record', async () => {
    const dir = await damagedCopy(async (copy) => {
      const { file } = await segmentOf(copy);
      const last = records.at(-1) as JournalRecord;
      const alien: JournalRecord = {
        seq: last.seq + 1,
        stream: 'widget/42',
        version: 1,
        at: last.at,
        events: [{ type: 'WidgetSpun' }],
      };
      await writeFile(file, encodeRecord(alien), { flag: 'a' });
    });
    expectRefusal(await start(dir), /record \d+: unknown stream widget\/42/);
  });

  it('a journal that ends before the snapshot it goes with: exit 1, naming both seqs', async () => {
    const dir = await damagedCopy(async (copy) => {
      const { file } = await segmentOf(copy);
      const bytes = await readFile(file);
      const lines = bytes.toString('utf8').split('\n');
      await truncate(file, Buffer.byteLength(lines.slice(0, 5).join('\n')) + 1);
    });
    expectRefusal(await start(dir), /the journal ends at seq 5 but the snapshot covers seq \d+/);
  });

  it('a record whose checksum is right but whose fields are not: exit 1', async () => {
    const dir = await damagedCopy(async (copy) => {
      const { file } = await segmentOf(copy);
      const bytes = await readFile(file, 'utf8');
      const lines = bytes.split('\n');
      const broken = { ...(records[7] as JournalRecord), events: 'not a list' } as unknown as JournalRecord;
      lines[7] = encodeRecord(broken).trimEnd();
      await writeFile(file, lines.join('\n'));
    });
    expectRefusal(await start(dir), /journal corrupt: segment .* at byte offset \d+: .*events/);
  });

  it('a damaged snapshot over a complete journal: falls back, says so, and serves the whole state', async () => {
    let damaged = '';
    const dir = await damagedCopy(async (copy) => {
      const snapshots = path.join(copy, 'snapshots');
      const manifests = (await readdir(snapshots)).filter((name) => name.startsWith('manifest-')).sort();
      const newest = JSON.parse(await readFile(path.join(snapshots, manifests.at(-1) as string), 'utf8')) as {
        partitions: { file: string }[];
      };
      damaged = newest.partitions[0]?.file ?? '';
      const file = path.join(snapshots, damaged);
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x01;
      await writeFile(file, bytes);
    });
    const attempt = await start(dir);
    expect(attempt.ready, attempt.output).to.equal(true);
    expect(attempt.output, 'the fallback is reported').to.include(damaged);
    expect(await readLevels(attempt.url), 'the state is whole').to.deep.equal(levelsBefore);
  });

  it('a manifest that is not JSON: falls back, says so, and serves the whole state', async () => {
    const dir = await damagedCopy(async (copy) => {
      const snapshots = path.join(copy, 'snapshots');
      for (const name of (await readdir(snapshots)).filter((file) => file.startsWith('manifest-'))) {
        await writeFile(path.join(snapshots, name), '{"formatVersion":1,"seq":');
      }
    });
    const attempt = await start(dir);
    expect(attempt.ready, attempt.output).to.equal(true);
    expect(attempt.output, 'the fallback is reported').to.match(/manifest-\d+\.json/);
    expect(await readLevels(attempt.url)).to.deep.equal(levelsBefore);
  });

  it('a missing journal with snapshots left behind: refuses rather than start empty', async () => {
    const dir = await damagedCopy(async (copy) => {
      await rm(path.join(copy, 'journal'), { recursive: true, force: true });
    });
    expectRefusal(await start(dir), /the journal ends at seq 0 but the snapshot covers seq \d+/);
  });

  // Found by this suite: with the journal gone and every snapshot manifest damaged, the server used to
  // start empty with only warnings. The snapshot store now refuses when snapshots exist and none reads.
  it('a missing journal and every snapshot damaged: refuses rather than start empty', async () => {
    const dir = await damagedCopy(async (copy) => {
      await rm(path.join(copy, 'journal'), { recursive: true, force: true });
      const snapshots = path.join(copy, 'snapshots');
      for (const name of (await readdir(snapshots)).filter((file) => file.startsWith('manifest-'))) {
        await writeFile(path.join(snapshots, name), 'not json');
      }
    });
    const attempt = await start(dir);
    expect(
      attempt.ready,
      `it served an empty state over the remains of ${records.length} records:\n${attempt.output}`,
    ).to.equal(false);
    expect(attempt.exitCode).to.equal(1);
  });
});
