// The configuration switch between the embedded mode and cluster mode: JOURNAL, DATABASE_URL, PG_SCHEMA
// and NODE_ID as the server reads them, and what openStorage builds from them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../api/config.js';
import { FileJournal } from '../../storage/file-journal.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';
import { openStorage } from '../../storage/open-storage.js';
import { PgJournal } from '../../storage/pg-journal.js';
import { PgSnapshotStore } from '../../storage/pg-snapshots.js';
import { describeCluster, dropSchema, freshName, namedPool, quietLogger } from './cluster-support.js';

describe('cluster: configuration', () => {
  it('defaults to the file journal and needs DATABASE_URL only for JOURNAL=postgres', () => {
    const file = loadConfig({ DATABASE_URL: 'postgres://ignored@127.0.0.1/x' });
    expect(file).to.include({ journal: 'file', pgSchema: 'inventory' });
    expect(file.nodeId).to.match(/^.+-\d+$/);
    expect(() => loadConfig({ JOURNAL: 'postgres' })).to.throw(ConfigError, /DATABASE_URL is required/);
    expect(() => loadConfig({ JOURNAL: 'nats' })).to.throw(ConfigError, /JOURNAL/);
    expect(() =>
      loadConfig({ JOURNAL: 'postgres', DATABASE_URL: 'postgres://x', PG_SCHEMA: 'Bad-Name' }),
    ).to.throw(ConfigError, /PG_SCHEMA/);
    const cluster = loadConfig({
      JOURNAL: 'postgres',
      DATABASE_URL: 'postgres://u@db:5432/inv',
      PG_SCHEMA: 'shop_eu',
      NODE_ID: 'eu-1',
    });
    expect(cluster).to.include({
      journal: 'postgres',
      databaseUrl: 'postgres://u@db:5432/inv',
      pgSchema: 'shop_eu',
      nodeId: 'eu-1',
    });
  });

  it('opens a file journal and lowdb snapshots under dataDir in file mode', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'stockline-open-storage-'));
    try {
      const storage = await openStorage({ journal: 'file', dataDir: dir, logger: quietLogger });
      expect(storage.journal).to.be.instanceOf(FileJournal);
      expect(storage.snapshots).to.be.instanceOf(LowdbSnapshotStore);
      expect(storage.ownership).to.equal(undefined);
      await storage.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses postgres mode without a database URL', async () => {
    let error: unknown;
    await openStorage({ journal: 'postgres', dataDir: 'x', logger: quietLogger }).catch((caught: unknown) => {
      error = caught;
    });
    expect(String(error)).to.match(/databaseUrl/);
  });
});

describeCluster('cluster: openStorage in postgres mode', (url) => {
  it('returns the PostgreSQL journal and snapshots with ownership started; close() leaves the cluster', async () => {
    const schema = freshName('cluster');
    const pool = namedPool(url, 'open-storage', 1);
    try {
      const storage = await openStorage({
        journal: 'postgres',
        dataDir: 'unused',
        databaseUrl: url,
        schema,
        nodeId: 'solo',
        logger: quietLogger,
      });
      expect(storage.journal).to.be.instanceOf(PgJournal);
      expect(storage.snapshots).to.be.instanceOf(PgSnapshotStore);
      expect(storage.ownership?.owned()).to.have.length(16);
      const { rows } = await pool.query<{ node_id: string }>(`SELECT node_id FROM ${schema}.cluster_nodes`);
      expect(rows.map((row) => row.node_id)).to.deep.equal(['solo']);
      await storage.close();
      await storage.close();
      expect(storage.ownership?.owned()).to.deep.equal([]);
      const after = await pool.query(`SELECT node_id FROM ${schema}.cluster_nodes`);
      expect(after.rowCount).to.equal(0);
    } finally {
      await dropSchema(pool, schema);
      await pool.end();
    }
  });
});
