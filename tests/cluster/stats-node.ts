// An engine node for the stale-writer test: api/server.ts's own startServer, plus one thing the test
// needs to see from outside: on SIGUSR2 it prints its journal stats (with `conflicts`, the appends the
// (stream, version) fence refused) as one JSON line on stdout.
import { loadConfig } from '../../api/config.js';
import { startServer } from '../../api/server.js';

const running = await startServer(loadConfig());
process.on('SIGUSR2', () => {
  console.log(JSON.stringify({ journalStats: running.engine.metrics().journal }));
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.shutdown(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
