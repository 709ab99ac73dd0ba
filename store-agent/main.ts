// Entry point of the store agent:
//   node --import tsx store-agent/main.ts --store S1 --engine http://127.0.0.1:8080 --key <store key> \
//     --data ./data/agent-S1 [--port 7070] [--legacy-sync 15m] [--batch-max 500]
// (or STORE_ID, ENGINE_URL, STORE_KEY, AGENT_DATA_DIR, AGENT_PORT; see run.md "Store agent").
// Prints one line on stdout once the till API listens; logs go to stderr as JSON.
// Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for an invalid configuration, 1 otherwise.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreAgent } from './agent.js';
import { AgentConfigError, loadAgentConfig, usage } from './config.js';
import type { AgentConfig } from './config.js';
import { createAgentLogger } from './logger.js';

async function main(): Promise<void> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig(process.argv.slice(2));
  } catch (error) {
    if (error instanceof AgentConfigError) {
      console.error(`${error.message}\n\n${usage()}`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createAgentLogger(config.logLevel, config.storeId);
  const agent = await StoreAgent.start(config, logger);
  const mode =
    config.legacySyncMs === undefined ? 'live forwarding' : `legacy sync every ${config.legacySyncMs} ms`;
  console.log(
    `Store agent ${config.storeId} listening on ${agent.url} (${mode} to ${config.engineUrl}; journal in ${path.join(config.dataDir, 'journal')}; last seq ${agent.journal.lastSeq}, backlog ${agent.forwarder.backlog})`,
  );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      agent.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('store agent: stop failed', error);
          process.exit(1);
        },
      );
    });
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error('store agent: failed to start:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
