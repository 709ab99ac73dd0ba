// Child processes of the load test: the engine's API server (`node --import tsx api/server.ts`, the
// very command operators run) and the two ceiling servers (a bare Express 5 app and a plain node:http
// server). Each listens on 127.0.0.1 on a free port; each is stopped with SIGTERM (the engine drains
// and flushes, and a `--cpu-prof` child writes its profile on that exit), then SIGKILL if it hangs.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { variables } from '../../api/config.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** A port nobody listens on right now (the kernel's choice for port 0, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export interface ChildServer {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after 20 s. Resolves with the exit code (null when killed). */
  stop(): Promise<number | null>;
  /** Undefined while it runs; how it ended otherwise. */
  exited(): string | undefined;
  /** The last lines of its log. */
  logTail(lines?: number): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills our own children, by pid, if the load test itself dies or is interrupted. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitUntilReady(
  url: string,
  child: ChildProcess,
  logFile: string,
  name: string,
): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (code ${child.exitCode}):\n${tail(logFile)}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} was not ready within ${STARTUP_TIMEOUT_MS / 1000} s:\n${tail(logFile)}`);
}

interface SpawnSpec {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly logFile: string;
  /** Path answering 200 once the server can take traffic. */
  readonly readyPath: string;
  readonly port: number;
}

async function spawnServer(spec: SpawnSpec): Promise<ChildServer> {
  installExitHook();
  // The child's stdout (one JSON access-log line per request at LOG_LEVEL=info) goes straight to a
  // file: the load generator must not spend its CPU reading the server's logs.
  const fd = openSync(spec.logFile, 'a');
  const child = spawn(process.execPath, [...spec.args], {
    cwd: repoRoot,
    env: spec.env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  live.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  const url = `http://127.0.0.1:${spec.port}`;
  await waitUntilReady(`${url}${spec.readyPath}`, child, spec.logFile, spec.name);
  let stopping: Promise<number | null> | undefined;
  return {
    name: spec.name,
    url,
    pid: child.pid ?? -1,
    logFile: spec.logFile,
    exited: () =>
      child.exitCode !== null || child.signalCode !== null
        ? `exit code ${child.exitCode ?? 'none'}, signal ${child.signalCode ?? 'none'}`
        : undefined,
    logTail: (lines = 20) => tail(spec.logFile, lines),
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })()),
  };
}

/** The environment of a child: ours, minus every variable the API reads, plus the given ones. */
function childEnv(overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !(name in variables) && !['NODE_OPTIONS', 'FAULT_INJECTION'].includes(name)) {
      env[name] = value;
    }
  }
  return { ...env, ...overrides };
}

export interface EngineServerOptions {
  readonly dataDir: string;
  readonly logFile: string;
  /** `key:role[:locationId]`, comma-separated. */
  readonly apiKeys: string;
  /** Extra API variables (RATE_LIMIT_PER_MINUTE, MAX_IN_FLIGHT...). */
  readonly env: Record<string, string>;
  /** When set, the child runs under `node --cpu-prof` and writes its profile here on exit. */
  readonly cpuProfDir?: string | undefined;
}

/** The engine's HTTP API as operators start it, on 127.0.0.1 and a free port. */
export async function startEngineServer(
  options: EngineServerOptions,
): Promise<ChildServer & { readonly command: string }> {
  const port = await freePort();
  const args = [
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    '--import',
    'tsx',
    'api/server.ts',
  ];
  const env = { ...options.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: options.dataDir };
  const server = await spawnServer({
    name: options.cpuProfDir ? 'engine server (--cpu-prof)' : 'engine server',
    args,
    env: childEnv({ ...env, API_KEYS: options.apiKeys }),
    logFile: options.logFile,
    readyPath: '/readyz',
    port,
  });
  const shown = Object.entries(env)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return { ...server, command: `${shown} API_KEYS=... node ${args.join(' ')}` };
}

/**
 * The engine's 'snapshot written' lines of a server log, read incrementally (the log holds one access
 * line per request, so it is never read twice from the start).
 */
export class SnapshotLog {
  private offset = 0;
  private rest = '';
  /** Journal seq of the newest snapshot written. */
  lastSeq = 0;
  /** When each snapshot was written (Date.now() time). */
  readonly times: number[] = [];

  constructor(readonly file: string) {}

  refresh(): this {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return this;
    }
    try {
      const buffer = Buffer.alloc(1 << 20);
      for (let read = 1; read > 0;) {
        read = readSync(fd, buffer, 0, buffer.length, this.offset);
        this.offset += read;
        const lines = (this.rest + buffer.toString('utf8', 0, read)).split('\n');
        this.rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('"snapshot written"')) continue;
          try {
            const entry = JSON.parse(line) as { seq?: number; timestamp?: string };
            if (typeof entry.seq === 'number') this.lastSeq = Math.max(this.lastSeq, entry.seq);
            const at = Date.parse(entry.timestamp ?? '');
            if (Number.isFinite(at)) this.times.push(at);
          } catch {
            // a line cut by a concurrent write: not a snapshot line we can read
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return this;
  }

  /** Snapshots written within [fromMs, toMs]. */
  within(fromMs: number, toMs: number): number {
    return this.times.filter((at) => at >= fromMs && at <= toMs).length;
  }
}

export type CeilingKind = 'express' | 'http';

/** A trivial server on the same machine: the HTTP framework's (or Node's) own ceiling. */
export async function startCeilingServer(
  kind: CeilingKind,
  logFile: string,
  cpuProfDir?: string,
): Promise<ChildServer> {
  const port = await freePort();
  return spawnServer({
    name: `${kind} ceiling`,
    args: [
      ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
      '--import',
      'tsx',
      'scripts/loadtest/ceiling-server.ts',
      kind,
    ],
    env: childEnv({ PORT: String(port), HOST: '127.0.0.1' }),
    logFile,
    readyPath: '/healthz',
    port,
  });
}
