// `--profile`: where a request's CPU time goes. The reserve-spread cycle, then single reads, run against a second
// engine server started under `node --cpu-prof`; the profile it writes on exit is cut to the measured
// window (V8's sample clock and process.hrtime are both CLOCK_MONOTONIC) and summarised:
//   - by category: each sample is charged to the innermost frame that belongs to a package or to our
//     code, so JSON.stringify inside winston counts as logging and a sha256 inside auth as auth;
//     samples with nothing but Node's core on the stack (the HTTP parser, socket writes) are "node core";
//   - the top functions by self time, and our own api/ functions by inclusive time;
//   - each as CPU ms and µs per request, so a cost can be set against the request it is paid for.
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import type { SourceMapPayload } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { PhaseResult } from './cannon.js';
import { ApiClient } from './client.js';
import type { LoadTestOptions } from './options.js';
import { SnapshotLog, repoRoot, startCeilingServer, startEngineServer } from './processes.js';
import type { ScenarioContext, Target } from './scenario.js';
import { measure } from './scenario.js';
import { CONFIRM_SHARE, seedReservable } from './scenarios/reserve-spread.js';
import { reserveCycleSteps, singleReadStep } from './scenarios/steps.js';
import { ReservationLedger } from './ledger.js';
import { prng } from './client.js';
import { catalogueLocations, putLocations } from './seed.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface CategoryCost {
  readonly category: string;
  readonly ms: number;
  readonly share: number;
  readonly usPerRequest: number;
}

export interface FunctionCost {
  readonly function: string;
  readonly where: string;
  /** The source line, for anonymous functions above all. */
  readonly code?: string;
  readonly category: string;
  readonly ms: number;
  readonly share: number;
  readonly usPerRequest: number;
}

export interface ProfileSummary {
  readonly command: string;
  readonly profileFile: string;
  /** Engine snapshots written during the measured window (their serialisation shows in the profile). */
  readonly snapshotsInWindow: number;
  /** The bare Express app profiled the same way: what Express itself costs per request. */
  readonly ceiling: CeilingProfile;
  readonly windowed: boolean;
  readonly sampledMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly busyUsPerRequest: number;
  readonly categories: CategoryCost[];
  /** Leaf-frame self time by category: native builtins and Node's core shown as themselves. */
  readonly selfCategories: CategoryCost[];
  readonly topSelf: FunctionCost[];
  readonly ourInclusive: FunctionCost[];
  readonly phase: PhaseResult;
  /** Single storefront reads (GET /v1/stock/{sku}) on the same server, right after. */
  readonly read: ReadProfile;
}

export interface ReadProfile {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly busyUsPerRequest: number;
  readonly categories: CategoryCost[];
  readonly topSelf: FunctionCost[];
}

const EXPRESS_PACKAGES = [
  'express',
  'router',
  'path-to-regexp',
  'finalhandler',
  'on-finished',
  'on-headers',
  'type-is',
  'content-type',
  'mime-types',
  'mime-db',
  'accepts',
  'negotiator',
  'qs',
  'parseurl',
  'encodeurl',
  'vary',
  'fresh',
  'range-parser',
  'proxy-addr',
  'forwarded',
  'ipaddr.js',
  'send',
  'serve-static',
  'statuses',
  'http-errors',
  'depd',
  'setprototypeof',
  'cookie',
  'cookie-signature',
  'escape-html',
  'merge-descriptors',
  'media-typer',
  'content-disposition',
  'etag',
  'debug',
  'ms',
  'safe-buffer',
  'inherits',
  'toidentifier',
  'is-promise',
  'call-bind-apply-helpers',
  'call-bound',
  'get-intrinsic',
  'get-proto',
  'es-errors',
  'es-object-atoms',
  'es-define-property',
  'function-bind',
  'has-symbols',
  'gopd',
  'hasown',
  'dunder-proto',
  'math-intrinsics',
  'side-channel',
  'side-channel-list',
  'side-channel-map',
  'side-channel-weakmap',
  'object-inspect',
  'wrappy',
  'once',
];
const BODY_PACKAGES = ['body-parser', 'raw-body', 'iconv-lite', 'bytes', 'unpipe', 'destroy', 'safer-buffer'];
const VALIDATION_PACKAGES = [
  'ajv',
  'ajv-formats',
  'fast-uri',
  'fast-deep-equal',
  'json-schema-traverse',
  'require-from-string',
];
const LOGGING_PACKAGES = [
  'winston',
  'logform',
  'triple-beam',
  'winston-transport',
  'readable-stream',
  'safe-stable-stringify',
  '@colors/colors',
  'fecha',
  'one-time',
  'stack-trace',
  'kuler',
  'text-hex',
  'colorspace',
  'color',
  'color-string',
  'color-convert',
  'simple-swizzle',
  'is-arrayish',
  'async',
  'is-stream',
  '@dabh/diagnostics',
  'fn.name',
  'enabled',
  'string_decoder',
  'util-deprecate',
  '@so-ric/colorspace',
];
const METRICS_PACKAGES = ['prom-client', 'tdigest', 'bintrees'];

const byPackage = new Map<string, string>([
  ...EXPRESS_PACKAGES.map((name) => [name, 'express (router, req/res)'] as const),
  ...BODY_PACKAGES.map((name) => [name, 'body parsing (express.json)'] as const),
  ...VALIDATION_PACKAGES.map((name) => [name, 'validation (ajv)'] as const),
  ...LOGGING_PACKAGES.map((name) => [name, 'logging (winston access log)'] as const),
  ...METRICS_PACKAGES.map((name) => [name, 'metrics (prom-client)'] as const),
  ['helmet', 'helmet'],
  ['rate-limiter-flexible', 'rate limit (rate-limiter-flexible)'],
  ['cors', 'express (router, req/res)'],
  ['xstate', 'engine'],
  ['lowdb', 'journal & snapshots (storage/)'],
  ['steno', 'journal & snapshots (storage/)'],
  ['opossum', 'breaker (opossum)'],
  ['tsx', 'tsx loader'],
  ['esbuild', 'tsx loader'],
  ['get-tsconfig', 'tsx loader'],
]);

const ourFiles: readonly (readonly [RegExp, string])[] = [
  [/\/api\/validation\.ts/, 'validation (ajv)'],
  [/\/api\/logger\.ts/, 'logging (winston access log)'],
  [/\/api\/metrics\.ts/, 'metrics (prom-client)'],
  [/\/api\/auth\.ts/, 'auth (api/auth.ts: sha256 + compare)'],
  [/\/api\/idempotency\.ts/, 'idempotency fingerprint (api/idempotency.ts)'],
  [/\/api\/context\.ts/, 'request context'],
  [/\/api\//, 'our middleware & handlers (api/)'],
  [/\/engine\//, 'engine'],
  [/\/storage\//, 'journal & snapshots (storage/)'],
];

const NODE_CORE = 'node core (HTTP parser, sockets, timers)';
const ASYNC_CONTEXT = 'request context (AsyncLocalStorage)';

/** The category of a frame, or undefined for frames charged to their caller (natives, Node's core). */
export function categoryOf(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'V8 (program)';
  if (
    url.includes('async_hooks') ||
    url.includes('async_local_storage') ||
    url.includes('async_context_frame')
  ) {
    return ASYNC_CONTEXT;
  }
  // ajv compiles validators with new Function: no url, names validate<N>.
  if (url === '' && /^validate\d*$/.test(functionName)) return 'validation (ajv)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '');
    return byPackage.get(name) ?? `other package (${name})`;
  }
  if (url.startsWith('file://') || url.startsWith('/')) {
    for (const [pattern, category] of ourFiles) if (pattern.test(url)) return category;
    return 'other project code';
  }
  return undefined;
}

const shortUrl = (url: string): string => {
  if (url === '') return '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const root = `file://${repoRoot}/`;
  return url.startsWith(root) ? url.slice(root.length) : url;
};

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Where a frame is, for people: file:line of the TypeScript source and the line's text when known. */
export type FrameResolver = (
  frame: CallFrame,
) => { readonly where: string; readonly code?: string } | undefined;

/**
 * Maps frames of our .ts files back to their source lines. tsx compiles each file to one line
 * (minifyWhitespace), so the profile's positions mean nothing without its source maps; tsx keeps
 * them in its cache (os.tmpdir()/tsx-<uid>, one JSON { code, map } per compiled version of a file).
 * Several versions of a file may be cached (files change while others work): the one the server ran
 * is the one whose code has each named frame's function name just before the frame's column (V8
 * places a function at its parameter list); ties go to the
 * newest version compiled before the server was ready.
 */
export async function tsxSourceResolver(
  profile: CpuProfile,
  compiledBeforeMs = Number.POSITIVE_INFINITY,
): Promise<FrameResolver> {
  const framesByFile = new Map<string, CallFrame[]>();
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    if (!frame.url.startsWith(`file://${repoRoot}/`)) continue;
    const file = frame.url.slice('file://'.length);
    const list = framesByFile.get(file) ?? [];
    list.push(frame);
    framesByFile.set(file, list);
  }
  const dir = path.join(os.tmpdir(), `tsx-${process.getuid?.() ?? 0}`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return () => undefined;
  }
  const best = new Map<string, { score: number; mtimeMs: number; map: SourceMapPayload }>();
  for (const name of names.slice(0, 20_000)) {
    const file = path.join(dir, name);
    try {
      const info = await stat(file);
      if (!info.isFile() || info.size > 20_000_000) continue;
      const text = await readFile(file, 'utf8');
      if (!text.includes(`"sources":["${repoRoot}/`)) continue;
      const entry = JSON.parse(text) as { code?: string; map?: SourceMapPayload };
      const source = entry.map?.sources[0];
      const frames = source ? framesByFile.get(source) : undefined;
      if (!entry.map || !source || !frames || typeof entry.code !== 'string') continue;
      let score = 0;
      for (const frame of frames) {
        if (frame.lineNumber !== 0 || frame.columnNumber >= entry.code.length) score -= 10;
        // V8 places a function at its parameter list: a named one's name ends right there.
        else if (frame.functionName && entry.code.endsWith(frame.functionName, frame.columnNumber))
          score += 1;
      }
      const mtimeMs = info.mtimeMs > compiledBeforeMs ? -info.mtimeMs : info.mtimeMs;
      const known = best.get(source);
      if (!known || score > known.score || (score === known.score && mtimeMs > known.mtimeMs)) {
        best.set(source, { score, mtimeMs, map: entry.map });
      }
    } catch {
      // not a cache entry of ours
    }
  }
  const maps = new Map<string, SourceMap>();
  const sources = new Map<string, string[]>();
  for (const [source, { map }] of best) maps.set(source, new SourceMap(map));
  return (frame) => {
    if (!frame.url.startsWith('file://')) return undefined;
    const file = frame.url.slice('file://'.length);
    const map = maps.get(file);
    if (!map) return undefined;
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber);
    if (!('originalLine' in entry)) return undefined;
    let lines = sources.get(file);
    if (!lines) {
      try {
        lines = readFileSync(file, 'utf8').split('\n');
      } catch {
        lines = [];
      }
      sources.set(file, lines);
    }
    const code = lines[entry.originalLine]?.trim().slice(0, 70);
    return { where: `${path.relative(repoRoot, file)}:${entry.originalLine + 1}`, ...(code ? { code } : {}) };
  };
}

/** Summarises a .cpuprofile over [fromUs, toUs] (V8 microseconds), `requests` answered meanwhile. */
export function summariseProfile(
  profile: CpuProfile,
  window: { fromUs: number; toUs: number } | undefined,
  requests: number,
  resolve: FrameResolver = () => undefined,
): Omit<
  ProfileSummary,
  'command' | 'profileFile' | 'phase' | 'requestsPerSecond' | 'snapshotsInWindow' | 'ceiling' | 'read'
> {
  const places = new Map<string, { where: string; code?: string }>();
  const placeOf = (frame: CallFrame) => {
    const id = `${frame.url}|${frame.lineNumber}|${frame.columnNumber}`;
    let place = places.get(id);
    if (!place) {
      place = resolve(frame) ?? {
        where: `${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}:${frame.columnNumber + 1}` : ''}`,
      };
      places.set(id, place);
    }
    return place;
  };
  const keyOf = (frame: CallFrame) => `${frame.functionName || '(anonymous)'}|${placeOf(frame).where}`;
  const nodes = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    nodes.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Charge each node's samples once, then walk its stack once per distinct node.
  const weightByNode = new Map<number, number>();
  let time = profile.startTime;
  let inWindow = 0;
  const count = profile.samples.length;
  const meanDelta = count > 0 ? (profile.endTime - profile.startTime) / count : 0;
  for (let i = 0; i < count; i++) {
    time += profile.timeDeltas[i] ?? 0;
    if (window && (time < window.fromUs || time > window.toUs)) continue;
    const id = profile.samples[i] as number;
    const weight = (profile.timeDeltas[i + 1] ?? meanDelta) / 1000;
    weightByNode.set(id, (weightByNode.get(id) ?? 0) + weight);
    inWindow++;
  }
  const windowed = window !== undefined && inWindow > 0;
  if (window && !windowed) return summariseProfile(profile, undefined, requests, resolve);

  const categories = new Map<string, number>();
  const selfCategories = new Map<string, number>();
  const selfByFunction = new Map<string, { frame: CallFrame; category: string; ms: number }>();
  const inclusive = new Map<string, { frame: CallFrame; ms: number }>();
  let sampledMs = 0;
  let idleMs = 0;
  for (const [id, ms] of weightByNode) {
    sampledMs += ms;
    const leaf = nodes.get(id);
    if (!leaf) continue;
    const leafCategory = categoryOf(leaf.callFrame);
    if (leafCategory === 'idle') {
      idleMs += ms;
      continue;
    }
    const selfCategory =
      leafCategory ??
      (leaf.callFrame.url === '' ? 'native (V8 builtins: JSON, regexps, crypto...)' : NODE_CORE);
    selfCategories.set(selfCategory, (selfCategories.get(selfCategory) ?? 0) + ms);
    let charged: string | undefined;
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = nodes.get(cursor)?.callFrame;
      if (!frame) break;
      charged ??= categoryOf(frame);
      if (frame.url.includes('/api/') && !frame.url.includes('/node_modules/')) {
        const key = keyOf(frame);
        if (!seen.has(key)) {
          seen.add(key);
          const entry = inclusive.get(key) ?? { frame, ms: 0 };
          entry.ms += ms;
          inclusive.set(key, entry);
        }
      }
    }
    const category = charged ?? NODE_CORE;
    categories.set(category, (categories.get(category) ?? 0) + ms);
    const key = keyOf(leaf.callFrame);
    const entry = selfByFunction.get(key) ?? { frame: leaf.callFrame, category, ms: 0 };
    entry.ms += ms;
    selfByFunction.set(key, entry);
  }
  const busyMs = sampledMs - idleMs;
  const perRequest = (ms: number) => (requests > 0 ? round1((ms * 1000) / requests) : 0);
  const share = (ms: number) => (busyMs > 0 ? Math.round((ms / busyMs) * 1000) / 10 : 0);
  const toCosts = (map: Map<string, number>): CategoryCost[] =>
    [...map]
      .sort(([, a], [, b]) => b - a)
      .map(([category, ms]) => ({
        category,
        ms: round1(ms),
        share: share(ms),
        usPerRequest: perRequest(ms),
      }));
  const toFunction = (frame: CallFrame, category: string, ms: number): FunctionCost => ({
    function: frame.functionName || '(anonymous)',
    ...placeOf(frame),
    category,
    ms: round1(ms),
    share: share(ms),
    usPerRequest: perRequest(ms),
  });
  return {
    windowed,
    sampledMs: round1(sampledMs),
    busyMs: round1(busyMs),
    idleMs: round1(idleMs),
    requests,
    busyUsPerRequest: perRequest(busyMs),
    categories: toCosts(categories),
    selfCategories: toCosts(selfCategories),
    topSelf: [...selfByFunction.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 25)
      .map((entry) => toFunction(entry.frame, entry.category, entry.ms)),
    ourInclusive: [...inclusive.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 20)
      .map((entry) => toFunction(entry.frame, categoryOf(entry.frame) ?? 'api', entry.ms)),
  };
}

/** The server's main thread: the profile that ran `entry` and was busiest (tsx's loader thread writes one too). */
async function mainProfile(
  dir: string,
  entry = '/api/app.ts',
): Promise<{ file: string; profile: CpuProfile }> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile'));
  let best: { file: string; profile: CpuProfile; busy: number } | undefined;
  for (const name of files) {
    const profile = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as CpuProfile;
    if (!profile.nodes.some((node) => node.callFrame.url.endsWith(entry))) continue;
    const idle = new Set(
      profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id),
    );
    const busy = profile.samples.filter((id) => !idle.has(id)).length;
    if (!best || busy > best.busy) best = { file: path.join(dir, name), profile, busy };
  }
  if (!best) throw new Error(`no .cpuprofile of the server's main thread in ${dir}`);
  return best;
}

const PROFILE_SKUS = 5000;

export interface CeilingProfile {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly busyUsPerRequest: number;
  readonly categories: CategoryCost[];
  readonly topSelf: FunctionCost[];
}

/** The bare Express app under --cpu-prof, POSTed the reservation body: Express's own cost per request. */
async function profileExpressCeiling(
  options: LoadTestOptions,
  tmpDir: string,
  profileDir: string,
  progress: (line: string) => void,
): Promise<CeilingProfile> {
  const dir = path.join(profileDir, 'express-ceiling');
  await mkdir(dir, { recursive: true });
  progress('profile: the bare Express 5 app under node --cpu-prof, same POST');
  const server = await startCeilingServer('express', path.join(tmpDir, 'profile-ceiling.log'), dir);
  let phase: PhaseResult;
  try {
    const key = 'ceiling-key-0123456789abcdef';
    let counter = 0;
    phase = await measure(
      { target: { url: server.url, adminKey: key, shopKey: key }, options, progress },
      {
        label: 'profile: bare Express POST under --cpu-prof',
        key: 'shop',
        connections: options.connections,
        seconds: options.duration,
        script: () => [
          {
            build: () => ({
              kind: 'post',
              method: 'POST',
              path: '/v1/ceiling',
              body: JSON.stringify({
                lines: [{ sku: 'prof-000001', quantity: 1 }],
                ttlSeconds: 3600,
                channel: 'web',
              }),
              headers: { 'idempotency-key': `ceiling-${++counter}` },
            }),
          },
        ],
      },
    );
  } finally {
    await server.stop();
  }
  const { profile } = await mainProfile(dir, '/scripts/loadtest/ceiling-server.ts');
  const window = {
    fromUs: Number(BigInt(phase.window.startNs) / 1000n),
    toUs: Number(BigInt(phase.window.endNs) / 1000n),
  };
  const summary = summariseProfile(profile, window, phase.requests);
  return {
    requests: phase.requests,
    requestsPerSecond: phase.requestsPerSecond,
    busyUsPerRequest: summary.busyUsPerRequest,
    categories: summary.categories,
    topSelf: summary.topSelf.slice(0, 10),
  };
}

export async function profileReserve(
  options: LoadTestOptions,
  tmpDir: string,
  profileDir: string,
  serverEnv: Record<string, string>,
  keys: { adminKey: string; shopKey: string; apiKeys: string },
  progress: (line: string) => void,
): Promise<ProfileSummary> {
  await mkdir(profileDir, { recursive: true });
  const dataDir = path.join(tmpDir, 'profile-data');
  progress('profile: starting an engine server under node --cpu-prof');
  const server = await startEngineServer({
    dataDir,
    logFile: path.join(tmpDir, 'profile-server.log'),
    apiKeys: keys.apiKeys,
    // One process, whatever --workers says: the profile charges one process's CPU to each request.
    env: Object.fromEntries(Object.entries(serverEnv).filter(([name]) => name !== 'HTTP_WORKERS')),
    cpuProfDir: profileDir,
  });
  const readyAt = Date.now();
  let phase: PhaseResult;
  let readPhase: PhaseResult;
  try {
    const target: Target = { url: server.url, adminKey: keys.adminKey, shopKey: keys.shopKey };
    const admin = new ApiClient(server.url, keys.adminKey);
    const context: ScenarioContext = { target, admin, options, runId: 'prof', progress };
    await putLocations(admin, catalogueLocations);
    // 5,000 SKUs x 3 locations: 15,000 records, so the seeding itself does not trigger a snapshot
    // (every 50,000 records by default) that would land in the measured window.
    const { skus } = await seedReservable(context, 'prof', Math.min(options.catalogue, PROFILE_SKUS));
    const ledger = new ReservationLedger();
    phase = await measure(context, {
      label: 'profile: reserve-spread under --cpu-prof',
      key: 'shop',
      connections: options.connections,
      seconds: options.duration,
      script: (connection) => {
        const random = prng(options.seed * 104_729 + connection);
        return reserveCycleSteps({
          ledger,
          keyPrefix: `prof-${connection}`,
          pickSku: () => skus[Math.floor(random() * skus.length)] as string,
          quantity: () => 1,
          random,
          confirmShare: CONFIRM_SHARE,
        });
      },
    });
    const pickRead = prng(options.seed * 15_485_863);
    readPhase = await measure(context, {
      label: 'profile: single reads under --cpu-prof',
      key: 'shop',
      connections: options.connections,
      seconds: options.duration,
      script: () => [singleReadStep(() => skus[Math.floor(pickRead() * skus.length)] as string)],
    });
  } finally {
    progress('profile: stopping the server (it writes its profile on exit)');
    await server.stop();
  }
  const { file, profile } = await mainProfile(profileDir);
  const windowOf = (measured: PhaseResult) => ({
    fromUs: Number(BigInt(measured.window.startNs) / 1000n),
    toUs: Number(BigInt(measured.window.endNs) / 1000n),
  });
  const resolver = await tsxSourceResolver(profile, readyAt + 1000);
  const summary = summariseProfile(profile, windowOf(phase), phase.requests, resolver);
  const readSummary = summariseProfile(profile, windowOf(readPhase), readPhase.requests, resolver);
  const ceiling = await profileExpressCeiling(options, tmpDir, profileDir, progress);
  return {
    command: server.command,
    profileFile: file,
    ceiling,
    snapshotsInWindow: new SnapshotLog(server.logFile)
      .refresh()
      .within(phase.window.startMs, phase.window.endMs),
    requestsPerSecond: phase.requestsPerSecond,
    phase,
    ...summary,
    read: {
      requests: readPhase.requests,
      requestsPerSecond: readPhase.requestsPerSecond,
      busyUsPerRequest: readSummary.busyUsPerRequest,
      categories: readSummary.categories,
      topSelf: readSummary.topSelf.slice(0, 10),
    },
  };
}
