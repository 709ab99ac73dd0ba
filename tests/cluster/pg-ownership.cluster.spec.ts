// PgPartitionOwnership on its own, against the real PostgreSQL: partitions spread over the live nodes,
// move when a node stops, when its session is terminated or cut off, and when it hangs; a node never
// believes it owns a partition its session does not hold. Each test works in a fresh schema (dropped
// afterwards) and checks the nodes' beliefs against pg_locks, PostgreSQL's own view of the locks.
import { expect } from 'chai';
import pg from 'pg';
import {
  PgPartitionOwnership,
  ownershipLockClasses,
  type PgPartitionOwnershipOptions,
} from '../../storage/pg-ownership.js';
import { migrate } from '../../storage/pg-schema.js';
import { spyLogger } from '../support/journal-helpers.js';
import {
  PgProxy,
  describeCluster,
  dropSchema,
  freshName,
  namedPool,
  partitionLocks,
  viaPort,
  waitUntil,
} from './cluster-support.js';

const ROUND_MS = 100;

describeCluster('cluster: PgPartitionOwnership', (url) => {
  let pool: pg.Pool;
  let schema: string;
  let cleanups: (() => Promise<void>)[];

  before(() => {
    pool = namedPool(url, 'ownership-tests');
  });
  after(async () => {
    await pool.end();
  });
  beforeEach(() => {
    schema = freshName('cluster');
    cleanups = [];
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await dropSchema(pool, schema);
  });

  const node = async (nodeId: string, options: Partial<PgPartitionOwnershipOptions> = {}) => {
    const ownership = new PgPartitionOwnership({
      connectionString: url,
      schema,
      nodeId,
      rebalanceMs: ROUND_MS,
      logger: spyLogger(),
      ...options,
    });
    cleanups.push(() => ownership.stop());
    await ownership.start();
    return ownership;
  };

  const proxied = async () => {
    const proxy = PgProxy.forUrl(url);
    await proxy.start();
    cleanups.push(() => proxy.close());
    return { proxy, connectionString: viaPort(url, proxy.port) };
  };

  /** Every partition owned by exactly one node, each node within [min, max]; pg_locks agrees. */
  const settled = async (nodes: PgPartitionOwnership[], min: number, max: number) => {
    const owned = nodes.map((n) => n.owned());
    const all = owned.flat();
    if (all.length !== 16 || new Set(all).size !== 16) return false;
    if (owned.some((list) => list.length < min || list.length > max)) return false;
    const locks = await partitionLocks(pool, schema);
    return nodes.every((n, i) => JSON.stringify(locks.get(n.nodeId) ?? []) === JSON.stringify(owned[i]));
  };

  it('spreads 16 partitions over two, then three nodes, each gaining through onGained', async () => {
    const gained = new Map<string, number[]>();
    const a = await node('a');
    a.onGained((partitions) => gained.set('a', [...(gained.get('a') ?? []), ...partitions]));
    expect(a.owned()).to.have.length(16);
    // A listener registered after start() first hears what is already held.
    await waitUntil('a listener to hear the partitions held', () => gained.get('a')?.length === 16);

    const b = await node('b');
    b.onGained((partitions) => gained.set('b', [...(gained.get('b') ?? []), ...partitions]));
    await waitUntil('two nodes to share 8 + 8', () => settled([a, b], 8, 8), 5000);
    expect(gained.get('b')?.sort((x, y) => x - y)).to.deep.equal(b.owned());

    const c = await node('c');
    await waitUntil('three nodes to share 16', () => settled([a, b, c], 4, 6), 5000);
    const { rows } = await pool.query<{ node_id: string }>(
      `SELECT node_id FROM ${schema}.cluster_nodes ORDER BY node_id`,
    );
    expect(rows.map((row) => row.node_id)).to.deep.equal(['a', 'b', 'c']);
    for (const n of [a, b, c]) expect(n.stats.liveNodes).to.equal(3);
  });

  it('moves the partitions of a node that stops to the others within a few rounds', async () => {
    const nodes = [await node('a'), await node('b'), await node('c')];
    await waitUntil('three nodes to share 16', () => settled(nodes, 4, 6), 5000);
    const [a, b, c] = nodes as [PgPartitionOwnership, PgPartitionOwnership, PgPartitionOwnership];
    const hadC = c.owned();
    const started = Date.now();
    await c.stop();
    expect(c.owned()).to.deep.equal([]);
    await waitUntil('two nodes to hold all 16', () => settled([a, b], 8, 8), 5000);
    const movedMs = Date.now() - started;
    expect(movedMs, `moved in ${movedMs} ms`).to.be.below(10 * ROUND_MS + 500);
    for (const partition of hadC) expect(a.owns(partition) || b.owns(partition)).to.equal(true);
    const { rows } = await pool.query(`SELECT 1 FROM ${schema}.cluster_nodes WHERE node_id = 'c'`);
    expect(rows).to.have.length(0);
  });

  it('a node whose session is terminated owns nothing at once; the others take over while it is cut off', async () => {
    const { proxy, connectionString } = await proxied();
    const a = await node('a');
    const b = await node('b', { connectionString });
    const c = await node('c');
    await waitUntil('three nodes to share 16', () => settled([a, b, c], 4, 6), 5000);
    const hadB = b.owned();
    expect(hadB.length).to.be.greaterThan(0);

    // B cannot reconnect (its network is cut), and its session is terminated by an operator.
    proxy.cut();
    const pid = b.backendPid;
    expect(pid).to.be.a('number');
    await pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitUntil('B to notice', () => b.stats.sessionsLost > 0, 2000, 5);
    expect(b.owned()).to.deep.equal([]);
    for (const partition of hadB) expect(b.owns(partition)).to.equal(false);
    await waitUntil('A and C to hold all 16', () => settled([a, c], 8, 8), 5000);

    // Healed, B comes back and the partitions spread again.
    proxy.heal();
    await waitUntil('three nodes to share 16 again', () => settled([a, b, c], 4, 6), 5000);
  });

  it('a node whose network hangs stops believing it owns anything, and reacquires once it is back', async () => {
    const { proxy, connectionString } = await proxied();
    const a = await node('a');
    const b = await node('b', { connectionString, nodeTimeoutMs: 600 });
    await waitUntil('two nodes to share 8 + 8', () => settled([a, b], 8, 8), 5000);
    proxy.freeze();
    const frozenAt = Date.now();
    // No round can confirm B's session: within nodeTimeoutMs it owns nothing.
    await waitUntil('B to own nothing', () => b.owned().length === 0, 3000, 10);
    expect(Date.now() - frozenAt).to.be.below(1500);
    // Its session still holds the locks (PostgreSQL does not know the network hangs), so A cannot take
    // them yet; nothing is owned twice meanwhile.
    expect(a.owned()).to.have.length(8);
    proxy.cut();
    await waitUntil('A to hold all 16 once B is gone', () => settled([a], 16, 16), 5000);
    proxy.heal();
    await waitUntil('A and B to share again', () => settled([a, b], 8, 8), 8000);
  });

  it('evicts a node that stopped heartbeating while its session still holds partitions', async () => {
    // A "paused" node: a session holding the liveness lock and partitions, heartbeat 10 minutes old.
    await migrate(pool, schema);
    const hung = new pg.Client({ connectionString: url, application_name: 'stockline-own:hung' });
    await hung.connect();
    hung.on('error', () => undefined);
    cleanups.push(() => hung.end().catch(() => undefined));
    const classes = ownershipLockClasses(schema);
    await hung.query('SELECT pg_advisory_lock($1, 77)', [classes.nodes]);
    await hung.query('SELECT pg_advisory_lock($1, p) FROM generate_series(0, 15) p', [classes.partitions]);
    await hung.query(
      `INSERT INTO ${schema}.cluster_nodes (node_id, heartbeat_at, session_key) VALUES ('hung', now() - interval '10 minutes', 77)`,
    );
    const b = await node('b', { evictAfterMs: 1000 });
    expect(b.owned()).to.deep.equal([]);
    await waitUntil('B to evict the hung node and take everything', () => settled([b], 16, 16), 5000);
    expect(b.stats.evicted).to.equal(1);
    // Its session gone and its heartbeat old, its row is forgotten.
    await waitUntil('the hung node row to be forgotten', async () => {
      const { rowCount } = await pool.query(`SELECT 1 FROM ${schema}.cluster_nodes WHERE node_id = 'hung'`);
      return rowCount === 0;
    });
  });

  it('start() against an unreachable database rejects and leaves nothing running', async () => {
    const ownership = new PgPartitionOwnership({
      connectionString: 'postgres://postgres@127.0.0.1:1/postgres',
      schema,
      nodeId: 'nowhere',
      logger: spyLogger(),
    });
    let error: unknown;
    await ownership.start().catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(Error);
    expect(ownership.owned()).to.deep.equal([]);
    await ownership.stop();
  });

  it('refuses to start a second live node with the same id', async () => {
    await node('same');
    const twin = new PgPartitionOwnership({
      connectionString: url,
      schema,
      nodeId: 'same',
      logger: spyLogger(),
    });
    let error: unknown;
    await twin.start().catch((caught: unknown) => (error = caught));
    expect(String(error)).to.match(/already uses the node id/);
    expect(twin.owned()).to.deep.equal([]);
    expect(twin.backendPid).to.equal(undefined);
  });
});
