// The listener: a first run without API_KEYS prints a generated admin key that works; shutdown ends
// live streams, lets an in-flight request finish, stops the engine with a snapshot, and a restart
// on the same data directory has everything that was acknowledged.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../../api/config.js';
import { createLogger } from '../../../api/logger.js';
import { startServer } from '../../../api/server.js';
import { connectSse } from '../../support/api-sse.js';

describe('api: server', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stockline-server-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const logger = createLogger({ level: 'error', silent: true });

  it('prints a generated admin key when no keys are configured, and shuts down gracefully', async () => {
    const printed: string[] = [];
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir });
    const running = await startServer(config, { print: (line) => printed.push(line), logger });
    let stopped = false;
    try {
      const output = printed.join('\n');
      const key = /generated an admin key for this run only:\n {2}(\S+)/.exec(output)?.[1] ?? '';
      expect(key).to.have.length.greaterThan(20);
      expect(output).to.include('API_KEYS=');
      expect(output).to.include(running.url);
      const auth = { authorization: `Bearer ${key}` };
      const put = await fetch(`${running.url}/v1/locations/S1`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Store', type: 'store' }),
      });
      expect(put.status).to.equal(201);
      expect((await fetch(`${running.url}/v1/locations`)).status).to.equal(401);

      const stream = await connectSse(`${running.url}/v1/stream`, auth);
      expect(stream.status).to.equal(200);
      const inFlight = fetch(`${running.url}/v1/locations/S1/stock/TEE/adjustments`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': 'last' },
        body: JSON.stringify({ delta: 7, reason: 'receipt' }),
      });
      await stream.waitFor((s) => s.messages.length >= 1);
      await running.shutdown('test');
      stopped = true;
      await stream.ended;
      expect((await inFlight).status).to.equal(200);
      expect(running.engine.ready).to.equal(false);
      expect(running.server.listening).to.equal(false);
      expect((await readdir(join(dir, 'snapshots'))).length).to.be.greaterThan(0);

      const again = await startServer(config, { print: (line) => printed.push(line), logger });
      try {
        const newKey = /generated an admin key for this run only:\n {2}(\S+)/.exec(
          printed.slice(2).join('\n'),
        )?.[1];
        expect(newKey).to.be.a('string').and.not.equal(key);
        const level = await fetch(`${again.url}/v1/locations/S1/stock/TEE`, {
          headers: { authorization: `Bearer ${newKey}` },
        });
        expect(level.status).to.equal(200);
        expect(await level.json()).to.include({ onHand: 7 });
      } finally {
        await again.shutdown('test');
      }
    } finally {
      if (!stopped) await running.shutdown('cleanup');
    }
  });

  it('uses configured keys and generates none', async () => {
    const printed: string[] = [];
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      API_KEYS: 'reader-key-0123456789:reader',
    });
    const running = await startServer(config, { print: (line) => printed.push(line), logger });
    try {
      expect(printed.join('\n')).to.not.include('generated');
      const response = await fetch(`${running.url}/v1/locations`, {
        headers: { authorization: 'Bearer reader-key-0123456789' },
      });
      expect(response.status).to.equal(200);
    } finally {
      await running.shutdown('test');
    }
  });

  it('fails to start with EADDRINUSE when the port is taken, and stops its engine', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const printed: string[] = [];
    try {
      const config = loadConfig({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir });
      let failure: unknown;
      await startServer(config, { print: (line) => printed.push(line), logger }).catch((error: unknown) => {
        failure = error;
      });
      expect((failure as NodeJS.ErrnoException | undefined)?.code).to.equal('EADDRINUSE');
      expect(printed.join('\n')).to.not.include('listening on');
      // The engine stopped and released the data directory: a server starts on it afterwards.
      const running = await startServer(loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir }), {
        print: () => undefined,
        logger,
      });
      await running.shutdown('test');
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
