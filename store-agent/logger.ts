// JSON log lines on stderr (stdout carries the start-up line the till and scripts read).
// The store key never reaches the logger.
import winston from 'winston';
import type { AgentConfig } from './config.js';

export function createAgentLogger(level: AgentConfig['logLevel'], storeId: string): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component: 'store-agent', storeId },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
