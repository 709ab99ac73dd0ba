// The replay CLI: verify, rebuild, at, history and repair on the engine's journal and snapshots.
// `npm run replay -- <command> [options]`, `npm run replay -- --help`; see run.md "Replay CLI".
// The logic lives in scripts/replay/; this file only wires it to the process.
import { main } from './replay/main.js';

// `replay history ... | head` closes stdout early: that is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  nowMs: () => Date.now(),
  stdinIsTTY: process.stdin.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
});
