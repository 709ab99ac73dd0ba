// The one mapping from failures to problem+json: every catalogue code keeps its status, details
// become extension members, Retry-After travels, parser errors get their own codes, and anything
// unexpected is a 500 that says nothing about the server's insides.
import { expect } from 'chai';
import express from 'express';
import { errorCatalogue, InventoryError } from '../../../engine/errors.js';
import type { ErrorCode } from '../../../engine/errors.js';
import {
  ApiError,
  httpErrorCatalogue,
  mapError,
  problemMiddleware,
  problemTypeOf,
} from '../../../api/problem.js';
import { createLogger } from '../../../api/logger.js';

describe('api problem mapping', () => {
  it('maps every engine code to its catalogue status and title', () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      const { problem, unexpected } = mapError(new InventoryError(code as ErrorCode, `detail of ${code}`), {
        instance: '/v1/x',
        requestId: 'r-1',
      });
      expect(unexpected).to.equal(false);
      expect(problem).to.include({
        status: entry.status,
        title: entry.title,
        code,
        detail: `detail of ${code}`,
        instance: '/v1/x',
        requestId: 'r-1',
        type: problemTypeOf(code as ErrorCode),
      });
    }
  });

  it('maps every HTTP-edge code to its status', () => {
    for (const [code, entry] of Object.entries(httpErrorCatalogue)) {
      const { problem } = mapError(new ApiError(code as keyof typeof httpErrorCatalogue, 'x'));
      expect(problem.status, code).to.equal(entry.status);
    }
  });

  it('spreads details as extension members without letting them overwrite standard ones', () => {
    const error = new InventoryError('STOCK_INSUFFICIENT', 'short', {
      lines: [{ sku: 'A', requested: 3, available: 1 }],
      status: 200,
      code: 'OK',
    });
    const { problem } = mapError(error);
    expect(problem.status).to.equal(409);
    expect(problem.code).to.equal('STOCK_INSUFFICIENT');
    expect(problem.lines).to.deep.equal([{ sku: 'A', requested: 3, available: 1 }]);
  });

  it('sets Retry-After from the error and an ETag on a version conflict', () => {
    const unavailable = mapError(new InventoryError('STORAGE_UNAVAILABLE', 'down', {}, 2.2));
    expect(unavailable.headers['Retry-After']).to.equal('3');
    const conflict = mapError(new InventoryError('VERSION_CONFLICT', 'stale', { currentVersion: 7 }));
    expect(conflict.headers.ETag).to.equal('"7"');
  });

  it('maps body-parser failures to 400, 413 and 415', () => {
    expect(mapError({ type: 'entity.parse.failed', status: 400 }).problem.code).to.equal('MALFORMED_JSON');
    expect(mapError({ type: 'entity.too.large', status: 413, limit: 10 }).problem).to.include({
      status: 413,
      limit: 10,
    });
    expect(mapError({ type: 'charset.unsupported', status: 415, charset: 'latin1' }).problem.status).to.equal(
      415,
    );
    expect(mapError({ type: 'encoding.unsupported', status: 415 }).problem.status).to.equal(415);
    expect(
      mapError(Object.assign(new URIError('Failed to decode param'), { status: 400 })).problem.code,
    ).to.equal('VALIDATION_FAILED');
  });

  it('turns anything unexpected into a 500 without message or stack', () => {
    const mapped = mapError(new TypeError('secret internal detail at /srv/app.js:12'));
    expect(mapped.unexpected).to.equal(true);
    expect(mapped.problem.status).to.equal(500);
    expect(JSON.stringify(mapped.problem)).to.not.include('secret');
    expect(mapped.problem).to.not.have.property('stack');
  });

  it('the middleware answers application/problem+json and logs unexpected errors with their stack', async () => {
    const lines: string[] = [];
    const { Writable } = await import('node:stream');
    const logger = createLogger({
      level: 'info',
      stream: new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(chunk.toString());
          callback();
        },
      }),
    });
    const app = express();
    app.get('/boom', () => {
      throw new Error('kaboom');
    });
    app.use(problemMiddleware(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const address = server.address() as { port: number };
      const response = await fetch(`http://127.0.0.1:${address.port}/boom`);
      expect(response.status).to.equal(500);
      expect(response.headers.get('content-type')).to.match(/^application\/problem\+json/);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).to.include({ code: 'INTERNAL_ERROR', status: 500, instance: '/boom' });
      expect(JSON.stringify(body)).to.not.include('kaboom');
      expect(lines.join('')).to.include('kaboom');
    } finally {
      server.close();
    }
  });
});
