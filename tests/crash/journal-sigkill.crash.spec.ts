// A real writer process is SIGKILLed mid-load, several times over the same journal. Every append it saw
// acknowledged must be in the journal afterwards, intact, with gap-free seqs. This guards the promise
// that an ack means durable, and that torn-tail repair on open never eats an acknowledged record.
// (SIGKILL keeps the page cache, so this proves process-crash safety; power loss is the fsync's job,
// covered by the fault-injection unit tests.)
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { FileJournal } from '../../storage/file-journal.js';
import type { JournalRecord } from '../../storage/journal.js';
import { readAll, spyLogger } from '../support/journal-helpers.js';
import { makeTempDir, removeTempDir } from '../support/temp-dir.js';

const WRITER = path.resolve('tests/support/journal-writer.ts');
const ROUNDS = 4;
const CHILD_DEADLINE_MS = 30_000;

interface Ack {
  readonly seq: number;
  readonly payload: unknown;
}

/** Runs the writer until it has printed at least `killAfter` acks, then SIGKILLs it. */
function runWriterAndKill(dir: string, killAfter: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(256 * 1024)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Ack[] = [];
    let pending = '';
    let stderr = '';
    let killed = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer did not reach ${killAfter} acks in time (${acks.length}); stderr: ${stderr}`));
    }, CHILD_DEADLINE_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? ''; // a line cut by the kill is not an ack we saw
      for (const line of lines) {
        const space = line.indexOf(' ');
        acks.push({ seq: Number(line.slice(0, space)), payload: JSON.parse(line.slice(space + 1)) });
      }
      if (!killed && acks.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      if (signal === 'SIGKILL' && killed) resolve(acks);
      else reject(new Error(`writer exited on its own (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
}

describe('journal under SIGKILL', function () {
  this.timeout(ROUNDS * CHILD_DEADLINE_MS + 30_000);
  let dir: string;

  before(async () => {
    dir = await makeTempDir('journal-sigkill');
  });
  after(async () => removeTempDir(dir));

  it(`keeps every acknowledged record across ${ROUNDS} kills mid-load`, async () => {
    const acknowledged = new Map<number, unknown>();
    for (let round = 1; round <= ROUNDS; round++) {
      const acks = await runWriterAndKill(dir, 2000 + Math.floor(Math.random() * 3000));
      for (const ack of acks) {
        expect(acknowledged.has(ack.seq), `seq ${ack.seq} acknowledged twice`).to.equal(false);
        acknowledged.set(ack.seq, ack.payload);
      }

      const journal = new FileJournal({ dir, logger: spyLogger() });
      await journal.open();
      let records: JournalRecord[];
      try {
        records = await readAll(journal);
      } finally {
        await journal.close();
      }
      records.forEach((record, i) => expect(record.seq, 'gap-free seqs').to.equal(i + 1));
      const bySeq = new Map(records.map((record) => [record.seq, record]));
      for (const [seq, payload] of acknowledged) {
        const record = bySeq.get(seq);
        expect(record, `acknowledged seq ${seq} (round ${round})`).to.not.equal(undefined);
        expect(record?.events[0], `payload of seq ${seq}`).to.deep.equal(payload);
      }
      expect(records.length).to.be.at.least(Math.max(...acknowledged.keys()));
    }
  });
});
