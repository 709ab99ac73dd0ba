// JSON logs with winston. Every line written while a request is served carries its request id,
// taken from the request's async scope; API keys are never passed to the logger.
import winston from 'winston';
import type { LogLevel } from './config.js';
import { requestScope } from './context.js';

const withRequestId = winston.format((info) => {
  const scope = requestScope.getStore();
  if (scope && info.requestId === undefined) info.requestId = scope.requestId;
  return info;
});

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where lines go; defaults to stdout. Tests pass a stream to read them back. */
  readonly stream?: NodeJS.WritableStream;
  readonly silent?: boolean;
}

export function createLogger(options: LoggerOptions): winston.Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    format: winston.format.combine(withRequestId(), winston.format.timestamp(), winston.format.json()),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console(),
    ],
  });
}
