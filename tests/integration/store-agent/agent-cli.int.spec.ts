// Guards: a misconfigured agent that starts anyway (and forwards nowhere, or to the wrong store), a
// till API that records what the engine would refuse (a poison event would block the store's
// sequence for good), a till retry that records a sale twice, and a till CLI that says "recorded"
// for something that was not. The agent runs as a real process against an address where no engine
// listens: recording never needs the engine.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { AgentConfigError, loadAgentConfig, parseDuration } from '../../../store-agent/config.js';
import { parseTillBody } from '../../../store-agent/till-events.js';
import {
  AgentProcess,
  ROOT,
  agentHealth,
  freePort,
  http,
  makeTemp,
  readAgentJournal,
  removeTemp,
} from '../../support/store-agent-processes.js';

function run(script: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { ...process.env, STORE_ID: '', ENGINE_URL: '', STORE_KEY: '', AGENT_DATA_DIR: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const required = [
  '--store',
  'S1',
  '--engine',
  'http://127.0.0.1:8080',
  '--key',
  'a-store-key-0123456789',
  '--data',
  '/tmp/x',
];

describe('store agent: configuration, till API and till CLI', function () {
  this.timeout(60_000);

  describe('configuration', () => {
    it('parses durations: 500ms, 10s, 15m, 1h', () => {
      expect(parseDuration('500ms')).to.equal(500);
      expect(parseDuration('10s')).to.equal(10_000);
      expect(parseDuration('15m')).to.equal(900_000);
      expect(parseDuration('1.5s')).to.equal(1500);
      expect(parseDuration('1h')).to.equal(3_600_000);
      expect(parseDuration('250')).to.equal(250);
      for (const bad of ['', '15 minutes', '-1s', 's', '10d'])
        expect(() => parseDuration(bad), bad).to.throw(RangeError);
    });

    it('reads flags first, then environment variables, with defaults', () => {
      const config = loadAgentConfig(['--store', 'S9', '--legacy-sync', '15m', '--batch-max=200'], {
        STORE_ID: 'IGNORED',
        ENGINE_URL: 'http://engine.local:8080/',
        STORE_KEY: 'store-key-0123456789abcdef',
        AGENT_DATA_DIR: 'data/agent',
        AGENT_PORT: '7171',
      });
      expect(config).to.deep.include({
        storeId: 'S9',
        engineUrl: 'http://engine.local:8080',
        port: 7171,
        legacySyncMs: 900_000,
        batchMax: 200,
        heartbeatMs: 0,
        readModel: true,
      });
      expect(config.dataDir).to.equal(path.resolve('data/agent'));
      expect(loadAgentConfig(required, {}).heartbeatMs).to.equal(5000);
      expect(loadAgentConfig(required, {}).legacySyncMs).to.equal(undefined);
    });

    it('refuses missing, invalid and unknown settings, naming each', () => {
      let error: unknown;
      try {
        loadAgentConfig(
          ['--batch-max', '1001', '--engine', 'ftp://x', '--legacy-sync', 'soon', '--colour', 'red'],
          {},
        );
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(AgentConfigError);
      const problems = (error as AgentConfigError).problems.join('\n');
      expect(problems).to.include('--store (STORE_ID) is required');
      expect(problems).to.include('--key (STORE_KEY) is required');
      expect(problems).to.include('--data (AGENT_DATA_DIR) is required');
      expect(problems).to.include('--engine (ENGINE_URL) must be an http(s) URL');
      expect(problems).to.include('--batch-max (AGENT_BATCH_MAX) must be an integer from 1 to 1000');
      expect(problems).to.include('--legacy-sync (AGENT_LEGACY_SYNC)');
      expect(problems).to.include('unknown argument "--colour"');
      expect(() => loadAgentConfig([...required, '--store', 'bad/id'], {})).to.throw(
        AgentConfigError,
        /must match/,
      );
    });

    it('the agent process exits with code 2 and the usage on a bad configuration', async () => {
      const result = await run('store-agent/main.ts', ['--store', 'S1', '--port', '99999']);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include('--engine (ENGINE_URL) is required');
      expect(result.stderr).to.include('--port (AGENT_PORT) must be an integer from 0 to 65535');
      expect(result.stderr).to.include('Usage:');
    });
  });

  describe('till API and CLI (no engine listening)', () => {
    let dir: string;
    let agent: AgentProcess;

    before(async () => {
      dir = await makeTemp('agent-cli');
      agent = new AgentProcess({
        storeId: 'S1',
        engineUrl: `http://127.0.0.1:${await freePort()}`,
        dataDir: path.join(dir, 'agent'),
      });
      await agent.start();
    });

    after(async () => {
      await agent.kill();
      await removeTemp(dir);
    });

    it('validates like the engine, so nothing the engine would refuse is ever recorded', async () => {
      const refused = [
        { type: 'sale', sku: 'A', quantity: 0 },
        { type: 'adjustment', sku: 'A', quantity: 0 },
        { type: 'count', sku: 'A', quantity: -1 },
        { type: 'refund', sku: 'A', quantity: 1 },
        { type: 'sale', sku: 'no/slash', quantity: 1 },
        { type: 'sale', sku: 'A', quantity: 1.5 },
        { type: 'sale', sku: 'A', quantity: 1, occurredAt: 'yesterday' },
        { type: 'adjustment', sku: 'A', quantity: -1, reason: 'theft' },
        { type: 'sale', sku: 'A', quantity: 1, extra: true },
        { events: [] },
      ];
      for (const body of refused) {
        const answer = await http(agent.url, 'POST', '/till/events', { body });
        expect(answer.status, JSON.stringify(body)).to.equal(400);
        expect(answer.json['code']).to.equal('VALIDATION_FAILED');
      }
      const notJson = await fetch(`${agent.url}/till/events`, { method: 'POST', body: 'sale A 1' });
      expect(notJson.status).to.equal(415);
      // Over the 1 MiB limit: the till reads a 413 problem, not a reset connection.
      const oversized = await fetch(`${agent.url}/till/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'sale', sku: 'A', quantity: 1, padding: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(oversized.status).to.equal(413);
      expect(oversized.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect(((await oversized.json()) as { code: string }).code).to.equal('PAYLOAD_TOO_LARGE');
      expect((await agentHealth(agent.url)).journal.lastSeq).to.equal(0);
      expect(parseTillBody([{ type: 'count', sku: 'A', quantity: 0 }]).events).to.have.length(1);
    });

    it('records one event or a batch and answers the seqs once durable; a keyed retry is answered, not recorded again', async () => {
      const single = await http(agent.url, 'POST', '/till/events', {
        body: { type: 'sale', sku: 'A', quantity: 2 },
        idempotencyKey: 'till-7-receipt-1',
      });
      expect(single.status).to.equal(201);
      expect(single.json).to.deep.include({ seq: 1, type: 'sale', sku: 'A', quantity: 2 });
      const retry = await http(agent.url, 'POST', '/till/events', {
        body: { type: 'sale', sku: 'A', quantity: 2 },
        idempotencyKey: 'till-7-receipt-1',
      });
      expect(retry.status).to.equal(201);
      expect(retry.json).to.deep.equal(single.json);
      expect(retry.headers.get('idempotent-replayed')).to.equal('true');
      const reused = await http(agent.url, 'POST', '/till/events', {
        body: { type: 'sale', sku: 'A', quantity: 3 },
        idempotencyKey: 'till-7-receipt-1',
      });
      expect(reused.status).to.equal(422);

      const batch = await http(agent.url, 'POST', '/till/events', {
        body: [
          { type: 'return', sku: 'A', quantity: 1, occurredAt: '2026-01-02T10:00:00.000Z' },
          { type: 'count', sku: 'B', quantity: 12 },
        ],
      });
      expect(batch.status).to.equal(201);
      expect(batch.json).to.deep.include({ firstSeq: 2, lastSeq: 3 });
      expect((batch.json['events'] as { occurredAt: string }[])[0]?.occurredAt).to.equal(
        '2026-01-02T10:00:00.000Z',
      );
    });

    it('the till CLI records sales, adjustments and counts, and refuses nonsense with code 2', async () => {
      const sale = await run('store-agent/till.ts', ['--agent', agent.url, 'sale', 'SKU-1', '2']);
      expect(sale.code, sale.stderr).to.equal(0);
      expect(sale.stdout).to.match(/^recorded seq 4: sale SKU-1 2 at \d{4}-/);
      const adjust = await run('store-agent/till.ts', ['adjust', 'SKU-1', '-3', 'damage'], {
        AGENT_URL: agent.url,
      });
      expect(adjust.stdout).to.match(/^recorded seq 5: adjustment SKU-1 -3/);
      const count = await run('store-agent/till.ts', ['--agent', agent.url, 'count', 'SKU-1', '7']);
      expect(count.stdout).to.match(/^recorded seq 6: count SKU-1 7/);
      const nonsense = await run('store-agent/till.ts', ['--agent', agent.url, 'sale', 'SKU-1', 'two']);
      expect(nonsense.code).to.equal(2);
      expect(nonsense.stderr).to.include('QTY must be an integer');
      const health = await run('store-agent/till.ts', ['--agent', agent.url, 'health']);
      expect(JSON.parse(health.stdout)).to.deep.include({ status: 'degraded', storeId: 'S1' });

      await agent.stop();
      const journal = await readAgentJournal(path.join(dir, 'agent'));
      expect(journal.map((event) => [event.seq, event.type, event.sku, event.quantity])).to.deep.equal([
        [1, 'sale', 'A', 2],
        [2, 'return', 'A', 1],
        [3, 'count', 'B', 12],
        [4, 'sale', 'SKU-1', 2],
        [5, 'adjustment', 'SKU-1', -3],
        [6, 'count', 'SKU-1', 7],
      ]);
    });
  });
});
