// The ceilings of `loadtest --compare`: the least a server on this machine can do per request.
//
//   node --import tsx scripts/loadtest/ceiling-server.ts express|http     (PORT, HOST from the env)
//
// `express`: a bare Express 5 app, express.json() on a POST route and a GET route, nothing else.
// `http`: the same two routes on plain node:http. Both parse the JSON body, answer JSON of about the
// size the engine answers (a held reservation; a storefront view of one SKU at three locations), and
// write no logs, so the figures are the framework's and Node's own cost per request.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import express from 'express';

const kind = process.argv[2];
const port = Number(process.env['PORT'] ?? '0');
const host = process.env['HOST'] ?? '127.0.0.1';

const level = (locationId: string) => ({
  sku: 'SKU-000001',
  locationId,
  onHand: 1000,
  reserved: 0,
  safetyStock: 0,
  available: 1000,
  version: 1,
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const storefront = {
  sku: 'SKU-000001',
  totals: { onHand: 3000, reserved: 0, safetyStock: 0, available: 3000 },
  locations: [level('E1'), level('W1'), level('W2')],
};
const held = (body: unknown) => ({
  id: randomUUID(),
  status: 'held',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T01:00:00.000Z',
  lines: (body as { lines?: unknown } | null)?.lines ?? [],
  version: 1,
});

function expressCeiling(): http.Server {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/v1/ceiling', (_req, res) => {
    res.json(storefront);
  });
  app.post('/v1/ceiling', express.json(), (req, res) => {
    res.status(201).json(held(req.body));
  });
  return app.listen(port, host);
}

function httpCeiling(): http.Server {
  const send = (res: http.ServerResponse, status: number, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/v1/ceiling') return send(res, 200, storefront);
    if (req.method === 'POST' && req.url === '/v1/ceiling') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return send(res, 400, { error: 'malformed JSON' });
        }
        send(res, 201, held(body));
      });
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  return server.listen(port, host);
}

if (kind !== 'express' && kind !== 'http') {
  console.error('usage: ceiling-server.ts express|http');
  process.exit(2);
}
const server = kind === 'express' ? expressCeiling() : httpCeiling();
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
