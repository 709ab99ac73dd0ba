// The system under test as real processes on 127.0.0.1: the engine (api/server.ts) with its own data
// directory, one store agent per store, each talking to the engine through its own fault-injecting TCP
// proxy. Kills (SIGKILL) and restarts, pauses (SIGSTOP/SIGCONT), journal failures and clock offsets on
// command, with a log of every fault and of every window in which the engine's clock or storage was
// disturbed: the checks need both to know which answers the engine may legitimately give.
import path from 'node:path';
import type { ManagedProcess } from '../../support/store-agent-processes.js';
import {
  AgentProcess,
  EngineProcess,
  freePort,
  keys,
  makeTemp,
  removeTemp,
} from '../../support/store-agent-processes.js';
import { TcpFaultProxy } from '../../support/tcp-fault-proxy.js';
import { attempt } from './http.js';
import { now, sleep } from './rng.js';

/** A change of the engine clock's offset: in effect from somewhere in [from, to]. */
export interface ClockChange {
  readonly from: number;
  readonly to: number;
  readonly before: number;
  readonly after: number;
}

/** The engine clock's offset over the run, as the harness set it (and as restarts reset it). */
export class ClockSchedule {
  readonly changes: ClockChange[] = [];
  #current = 0;

  get current(): number {
    return this.#current;
  }

  record(from: number, to: number, after: number): void {
    if (after === this.#current) return;
    this.changes.push({ from, to, before: this.#current, after });
    this.#current = after;
  }

  /** Every offset that may have been in effect at some instant of [a, b]. */
  offsetsIn(a: number, b: number): number[] {
    const offsets = new Set<number>();
    let atA = 0;
    for (const change of this.changes) {
      if (change.from > a) break;
      atA = change.to >= a ? change.before : change.after;
      if (change.to >= a) offsets.add(change.after);
    }
    offsets.add(atA);
    for (const change of this.changes) {
      if (change.to < a || change.from > b) continue;
      offsets.add(change.before);
      offsets.add(change.after);
    }
    return [...offsets];
  }

  /** The latest engine time possible at some instant of [a, b]. */
  maxEngineTime(a: number, b: number): number {
    return b + Math.max(...this.offsetsIn(a, b));
  }

  /** The earliest engine time possible at any instant of [a, b]. */
  minEngineTime(a: number, b: number): number {
    return a + Math.min(...this.offsetsIn(a, b));
  }

  /** Whether the clock may have jumped forward in [a, b] (a silent-store judgement may follow). */
  jumpedForwardIn(a: number, b: number): boolean {
    return this.changes.some((change) => change.after > change.before && change.to >= a && change.from <= b);
  }
}

export type FaultKind =
  | 'engine-kill'
  | 'engine-pause'
  | 'agent-kill'
  | 'agent-pause'
  | 'link-blackhole'
  | 'link-delay'
  | 'link-cut'
  | 'link-flaky'
  | 'link-refuse'
  | 'journal-fsync'
  | 'journal-write'
  | 'clock-jump';

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly target: string;
  readonly at: number;
  readonly detail: string;
}

export interface SystemOptions {
  readonly stores: readonly string[];
  readonly faultInjection: boolean;
  readonly env?: Readonly<Record<string, string>> | undefined;
}

export class SystemUnderTest {
  /** Every system not yet closed: a campaign interrupted by a signal closes them (scripts/chaos.ts). */
  static readonly live = new Set<SystemUnderTest>();
  readonly clock = new ClockSchedule();
  readonly faults: FaultRecord[] = [];
  /** Windows in which an injected journal failure may delay a saga's stock step past its answer. */
  readonly storageFaults: { from: number; to: number }[] = [];
  /** Engine restarts: milliseconds from spawn to serving (recovery included). */
  readonly recoveries: number[] = [];
  readonly agentRecoveries: number[] = [];
  engine!: EngineProcess;
  readonly agents = new Map<string, AgentProcess>();
  readonly proxies = new Map<string, TcpFaultProxy>();
  readonly paused = new Set<string>();
  dir = '';
  /** Keep the data directories after close() (a failed run, for inspection). */
  keepData = false;
  #engineDown = false;

  constructor(
    readonly options: SystemOptions,
    readonly seed: number,
  ) {}

  get engineUrl(): string {
    return this.engine.url;
  }

  get engineDataDir(): string {
    return path.join(this.dir, 'engine');
  }

  agentDataDir(storeId: string): string {
    return path.join(this.dir, `agent-${storeId}`);
  }

  agentUrl(storeId: string): string {
    return this.agents.get(storeId)?.url ?? '';
  }

  async startEngine(): Promise<void> {
    SystemUnderTest.live.add(this);
    this.dir = await makeTemp('chaos');
    const port = await freePort();
    this.engine = new EngineProcess({
      dataDir: this.engineDataDir,
      port,
      env: {
        DEMO_DATA: 'false',
        REQUEST_TIMEOUT_MS: '4000',
        SNAPSHOT_EVERY_RECORDS: '400',
        MAX_TTL_SECONDS: '3600',
        ...(this.options.faultInjection ? { FAULT_INJECTION: '1' } : {}),
        ...this.options.env,
      },
    });
    await this.engine.start(60_000);
  }

  async startAgents(): Promise<void> {
    let index = 0;
    for (const storeId of this.options.stores) {
      const proxy = await new TcpFaultProxy(
        { host: '127.0.0.1', port: this.engine.options.port },
        this.seed + ++index,
      ).listen();
      this.proxies.set(storeId, proxy);
      const agent = new AgentProcess({
        storeId,
        engineUrl: proxy.url,
        dataDir: this.agentDataDir(storeId),
        key: storeId === 'S2' ? keys.storeS2 : keys.storeS1,
      });
      this.agents.set(storeId, agent);
      await agent.start(60_000);
    }
  }

  // ---------------------------------------------------------------- faults

  note(kind: FaultKind, target: string, detail: string): void {
    this.faults.push({ kind, target, at: now(), detail });
  }

  processOf(target: string): ManagedProcess | undefined {
    return target === 'engine' ? this.engine : this.agents.get(target);
  }

  /** SIGKILL, stay down for `downMs`, start again (recovery included) and note how long it took. */
  async kill(target: string, downMs: number): Promise<void> {
    const process = this.processOf(target);
    if (!process) return;
    this.note(target === 'engine' ? 'engine-kill' : 'agent-kill', target, `down ${downMs} ms`);
    const killedAt = now();
    if (target === 'engine') this.#engineDown = true;
    await process.kill();
    this.paused.delete(target);
    await sleep(downMs);
    const spawned = now();
    await process.start(60_000);
    const ready = now();
    (target === 'engine' ? this.recoveries : this.agentRecoveries).push(Math.round(ready - spawned));
    if (target === 'engine') {
      this.#engineDown = false;
      // A new engine process starts with no clock offset.
      this.clock.record(killedAt, ready, 0);
    }
  }

  async pause(target: string, ms: number): Promise<void> {
    const pid = this.processOf(target)?.pid;
    if (pid === undefined || !this.processOf(target)?.running) return;
    this.note(target === 'engine' ? 'engine-pause' : 'agent-pause', target, `${ms} ms`);
    process.kill(pid, 'SIGSTOP');
    this.paused.add(target);
    try {
      await sleep(ms);
    } finally {
      this.resume(target);
    }
  }

  resume(target: string): void {
    const pid = this.processOf(target)?.pid;
    if (pid !== undefined && this.paused.has(target)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    this.paused.delete(target);
  }

  /** POST /v1/_faults on the engine; true when it took the command. */
  async injectFaults(command: {
    failNextFsyncs?: number;
    failNextWrites?: number;
    clockOffsetMs?: number;
  }): Promise<boolean> {
    if (!this.options.faultInjection || this.#engineDown) return false;
    const sentAt = now();
    const result = await attempt(this.engineUrl, {
      method: 'POST',
      path: '/v1/_faults',
      key: keys.admin,
      body: command,
      timeoutMs: 3_000,
    });
    const answeredAt = now();
    const ok = result.kind === 'answer' && result.answer.status === 200;
    if (command.clockOffsetMs !== undefined) {
      // Unanswered: the offset may or may not have changed; the answer below tells.
      this.clock.record(sentAt, answeredAt, ok ? command.clockOffsetMs : this.clock.current);
    }
    if (command.failNextFsyncs || command.failNextWrites) {
      // The failure lands on some later flush; its saga steps may be retried for a while after.
      this.storageFaults.push({ from: sentAt, to: answeredAt + 15_000 });
    }
    return ok;
  }

  storageFaultDuring(a: number, b: number): boolean {
    return this.storageFaults.some((window) => window.from <= b && window.to >= a);
  }

  /** Resumes every paused process, heals every link, restarts what is down, puts the clock back. */
  async heal(): Promise<void> {
    for (const target of [...this.paused]) this.resume(target);
    for (const proxy of this.proxies.values()) proxy.heal();
    if (!this.engine.running) await this.engine.start(60_000);
    for (const agent of this.agents.values()) if (!agent.running) await agent.start(60_000);
    if (this.clock.current !== 0) {
      for (let i = 0; i < 20 && this.clock.current !== 0; i++) {
        await this.injectFaults({ clockOffsetMs: 0 });
        if (this.clock.current !== 0) await sleep(250);
      }
    }
  }

  async stopAgents(): Promise<void> {
    for (const agent of this.agents.values()) await agent.stop();
  }

  async close(): Promise<void> {
    SystemUnderTest.live.delete(this);
    for (const target of [...this.paused]) this.resume(target);
    for (const agent of this.agents.values()) await agent.kill();
    if (this.engine) await this.engine.kill();
    for (const proxy of this.proxies.values()) await proxy.close();
    if (!this.keepData) await removeTemp(this.dir);
  }
}
