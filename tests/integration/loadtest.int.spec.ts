// The load-test script end to end, briefly: one 2-second reserve-spread run against the child server
// the script starts itself (node --import tsx api/server.ts on 127.0.0.1, temporary DATA_DIR). It
// asserts the report's shape, as --json prints it, and that the invariants were checked and held.
// It asserts nothing about speed: benchmarks are scripts, never timed tests.
import { expect } from 'chai';
import { parseOptions, UsageError } from '../../scripts/loadtest/options.js';
import type { LoadTestOptions } from '../../scripts/loadtest/options.js';
import { runLoadTest } from '../../scripts/loadtest/run.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runPacedPhase } from '../../scripts/loadtest/paced.js';

const options = (argv: string[]): LoadTestOptions => {
  const parsed = parseOptions(argv);
  if (parsed === 'help') throw new Error('unexpected --help');
  return parsed;
};

describe('load test (scripts/loadtest.ts)', function () {
  this.timeout(120_000);

  it('rejects unknown scenarios and unbounded values', () => {
    expect(() => parseOptions(['--scenario', 'nope'])).to.throw(UsageError);
    expect(() => parseOptions(['--duration', '100000'])).to.throw(UsageError, /--duration/);
    expect(() => parseOptions(['--url', 'http://127.0.0.1:1'])).to.throw(UsageError, /--key/);
    expect(options([]).scenarios).to.have.length(6);
    expect(() => parseOptions(['--workers', '17'])).to.throw(UsageError, /--workers/);
    expect(() => parseOptions(['--url', 'http://127.0.0.1:1', '--key', 'k', '--workers', '2'])).to.throw(
      UsageError,
      /--workers/,
    );
    expect(options(['--workers', '2']).workers).to.equal(2);
    expect(options([]).workers).to.equal(0);
  });

  it('runs a short reserve-spread on its own server and reports checked invariants as JSON', async () => {
    const progress: string[] = [];
    const report = await runLoadTest(
      options([
        '--scenario',
        'reserve-spread',
        '--duration',
        '2',
        '--warmup',
        '0',
        '--connections',
        '4',
        '--catalogue',
        '100',
      ]),
      (line) => progress.push(line),
    );
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown> & typeof report;

    expect(json.tool).to.equal('scripts/loadtest.ts');
    expect(json.machine.cpus).to.be.a('number');
    expect(json.server.mode).to.equal('child');
    expect(json.failures).to.deep.equal([]);
    expect(json.scenarios).to.have.length(1);
    const [scenario] = json.scenarios;
    expect(scenario?.name).to.equal('reserve-spread');
    const phase = scenario?.phases[0];
    expect(phase).to.include.all.keys(
      'label',
      'connections',
      'seconds',
      'requests',
      'requestsPerSecond',
      'latency',
      'statuses',
      'errors',
      'byKind',
    );
    expect(phase?.latency).to.have.all.keys('count', 'meanMs', 'p50Ms', 'p90Ms', 'p99Ms', 'maxMs');
    expect(phase?.requests).to.be.greaterThan(0);
    expect(Object.keys(phase?.statuses ?? {})).to.include('201');
    expect(phase?.byKind).to.have.property('reserve');
    expect(scenario?.figures).to.include.keys('requestsPerSecond', 'reservationsPerSecond', 'p99Ms');

    const invariants = scenario?.invariants;
    expect(invariants?.checked).to.equal(true);
    expect(invariants?.ok, JSON.stringify(invariants?.examples)).to.equal(true);
    expect(invariants?.levels).to.equal(300);
    expect(invariants?.checks.map((check) => check.name)).to.include.members([
      'no oversell',
      'reserved = sum of active reservations',
      'onHand = seeded + till events - confirmed',
    ]);
    expect(invariants?.reservations.created).to.be.greaterThan(0);
    expect(invariants?.reservations.readBack).to.equal(invariants?.reservations.created);
    expect(json.invariantsOk).to.equal(true);

    const ids = json.targets.map((target) => target.id);
    expect(ids).to.include.members(['reserve-p99', 'reserve-non-2xx', 'reserve-vs-express-post']);
    for (const target of json.targets) expect([true, false, null]).to.include(target.met);
    expect(progress.some((line) => line.includes('[reserve-spread]'))).to.equal(true);
  });

  it("the paced sender starts requests at the asked rate, runs each client's script in order, and records every answer", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `r${seen.length}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const created: string[] = [];
    try {
      const result = await runPacedPhase({
        label: 'paced',
        url: `http://127.0.0.1:${port}`,
        headers: { authorization: 'Bearer test' },
        rate: 100,
        seconds: 1,
        connections: 4,
        progress: () => undefined,
        script: () => {
          let last: string | undefined;
          return [
            {
              build: () => ({ kind: 'create', method: 'POST', path: '/things', body: '{}' }),
              onResponse: (status, body) => {
                if (status === 201) last = (JSON.parse(body) as { id: string }).id;
              },
            },
            {
              // Reads what the same client's previous step created: only sent after that answer.
              build: () =>
                last === undefined ? null : { kind: 'read', method: 'GET', path: `/things/${last}` },
              onResponse: (_status, _body) => {
                if (last !== undefined) created.push(last);
                last = undefined;
              },
            },
          ];
        },
      });
      expect(result.requests).to.equal(100);
      expect(result.statuses).to.deep.equal({ '200': 50, '201': 50 });
      expect(result.errors).to.equal(0);
      expect(result.byKind['create']?.requests).to.equal(50);
      expect(created).to.have.length(50);
      // Every read names a thing a create answered before it (a thing's id is the create's place in
      // the order the server saw requests, counted from 1).
      seen.forEach((line, index) => {
        if (line.startsWith('GET')) expect(Number(line.split('/r').pop())).to.be.at.most(index);
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
