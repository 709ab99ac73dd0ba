// TEST FACILITY. Fault injection for the reliability harness (tests/reliability/, scripts/chaos.ts):
// with FAULT_INJECTION=1, and only then, the server builds its file journal on file operations that
// fail the next N write or fdatasync calls with EIO on command, gives the engine a clock with an
// adjustable offset (wall-clock jumps for reservation expiry), and serves an admin-only
// POST /v1/_faults { failNextFsyncs?, failNextWrites?, clockOffsetMs? } that sets them. Without
// FAULT_INJECTION=1 nothing here is used and /v1/_faults answers 404 like any unknown path.
// Never set it in production: an admin key could then make the journal fail on purpose.
import express from 'express';
import type { RequestHandler, Router } from 'express';
import type { Clock } from '../engine/clock.js';
import type { FileOps } from '../storage/file-ops.js';
import { nodeFileOps } from '../storage/file-ops.js';
import { FileJournal } from '../storage/file-journal.js';
import type { StorageLogger } from '../storage/logger.js';
import { authorize, access } from './auth.js';
import { requireContext } from './context.js';
import { ApiError } from './problem.js';
import { validationError } from './validation.js';

export const FAULTS_PATH = '/v1/_faults';

export const faultInjectionEnabled = (
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean => env['FAULT_INJECTION'] === '1';

export interface FaultCommand {
  /** The next N fdatasync calls of the journal fail with EIO (added to those still pending). */
  readonly failNextFsyncs?: number;
  /** The next N write calls of the journal fail with EIO (added to those still pending). */
  readonly failNextWrites?: number;
  /** The engine's clock reads the wall clock plus this offset from now on. */
  readonly clockOffsetMs?: number;
}

export interface FaultState {
  readonly pendingFsyncFailures: number;
  readonly pendingWriteFailures: number;
  readonly clockOffsetMs: number;
  /** Failures injected so far, by call. */
  readonly injected: { readonly fdatasync: number; readonly write: number };
}

const MAX_FAILURES = 1_000;
const MAX_OFFSET_MS = 366 * 24 * 3600_000;

const injected = (call: 'write' | 'fdatasync'): NodeJS.ErrnoException => {
  const error: NodeJS.ErrnoException = new Error(`EIO: i/o error, ${call} (injected by FAULT_INJECTION)`);
  error.code = 'EIO';
  error.errno = -5;
  error.syscall = call;
  return error;
};

/** The faults of one server process: its journal's file operations and its engine's clock. */
export class FaultInjector {
  #pendingFsync = 0;
  #pendingWrite = 0;
  #offsetMs = 0;
  readonly #injected = { fdatasync: 0, write: 0 };

  readonly clock: Clock = { now: () => Date.now() + this.#offsetMs };

  readonly fileOps: FileOps = {
    ...nodeFileOps,
    write: (...args) => {
      if (this.#pendingWrite > 0) {
        this.#pendingWrite--;
        this.#injected.write++;
        return Promise.reject(injected('write'));
      }
      return nodeFileOps.write(...args);
    },
    fdatasync: (fd) => {
      if (this.#pendingFsync > 0) {
        this.#pendingFsync--;
        this.#injected.fdatasync++;
        return Promise.reject(injected('fdatasync'));
      }
      return nodeFileOps.fdatasync(fd);
    },
  };

  /** The server's file journal, on these file operations. */
  fileJournal(dir: string, logger: StorageLogger): FileJournal {
    return new FileJournal({ dir, logger, fileOps: this.fileOps });
  }

  apply(command: FaultCommand): FaultState {
    this.#pendingFsync = Math.min(MAX_FAILURES, this.#pendingFsync + (command.failNextFsyncs ?? 0));
    this.#pendingWrite = Math.min(MAX_FAILURES, this.#pendingWrite + (command.failNextWrites ?? 0));
    if (command.clockOffsetMs !== undefined) this.#offsetMs = command.clockOffsetMs;
    return this.state();
  }

  state(): FaultState {
    return {
      pendingFsyncFailures: this.#pendingFsync,
      pendingWriteFailures: this.#pendingWrite,
      clockOffsetMs: this.#offsetMs,
      injected: { ...this.#injected },
    };
  }
}

function parseCommand(body: unknown): FaultCommand {
  const problems: { in: 'body'; path: string; message: string }[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationError([{ in: 'body', path: '/', message: 'must be a JSON object' }]);
  }
  const known = new Set(['failNextFsyncs', 'failNextWrites', 'clockOffsetMs']);
  for (const key of Object.keys(body)) {
    if (!known.has(key)) problems.push({ in: 'body', path: `/${key}`, message: 'is not a known fault' });
  }
  const fields = body as Record<string, unknown>;
  const integer = (name: string, min: number, max: number): number | undefined => {
    const value = fields[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push({ in: 'body', path: `/${name}`, message: `must be an integer from ${min} to ${max}` });
      return undefined;
    }
    return value;
  };
  const command: FaultCommand = {
    failNextFsyncs: integer('failNextFsyncs', 0, MAX_FAILURES),
    failNextWrites: integer('failNextWrites', 0, MAX_FAILURES),
    clockOffsetMs: integer('clockOffsetMs', -MAX_OFFSET_MS, MAX_OFFSET_MS),
  };
  if (problems.length > 0) throw validationError(problems);
  return command;
}

/** POST /v1/_faults for an admin key: applies the command, answers the injector's state. */
export function faultInjectionRouter(injector: FaultInjector, authenticate: RequestHandler): Router {
  const router = express.Router();
  const label: RequestHandler = (req, _res, next) => {
    requireContext(req).route = FAULTS_PATH;
    next();
  };
  const requireJson: RequestHandler = (req, _res, next) => {
    if (
      req.headers['content-length'] !== undefined &&
      req.headers['content-length'] !== '0' &&
      !req.is('application/json')
    ) {
      next(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the faults as application/json'));
      return;
    }
    next();
  };
  router.post(FAULTS_PATH, label, authenticate, requireJson, express.json({ limit: 4096 }), (req, res) => {
    authorize(access.admin, requireContext(req).principal, {});
    const state = injector.apply(parseCommand(req.body ?? {}));
    res.status(200).json(state);
  });
  return router;
}
