// A minimal Server-Sent Events client for tests: connects with node:http, parses messages and
// comments as they arrive, and lets a test wait until it has seen what it expects.
import http from 'node:http';

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

export interface SseConnection {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly messages: SseMessage[];
  readonly comments: string[];
  /** The body, when the answer was not a stream (a problem document). */
  readonly body: () => string;
  /** Resolves once `predicate` holds, or rejects after `timeoutMs`. */
  waitFor(predicate: (connection: SseConnection) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      const messages: SseMessage[] = [];
      const comments: string[] = [];
      let raw = '';
      let buffer = '';
      const waiters = new Set<() => void>();
      let endResolve!: () => void;
      const ended = new Promise<void>((done) => (endResolve = done));
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        raw += chunk;
        buffer += chunk;
        let boundary = buffer.indexOf('\n\n');
        while (boundary >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          let id: string | undefined;
          let event: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) messages.push({ id, event, data: data.join('\n') });
          boundary = buffer.indexOf('\n\n');
        }
        for (const waiter of [...waiters]) waiter();
      });
      response.on('end', () => endResolve());
      response.on('close', () => endResolve());
      const connection: SseConnection = {
        status: response.statusCode ?? 0,
        headers: response.headers,
        messages,
        comments,
        body: () => raw,
        ended,
        waitFor(predicate, timeoutMs = 5000) {
          if (predicate(connection)) return Promise.resolve();
          return new Promise((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`SSE wait timed out with ${messages.length} messages`));
            }, timeoutMs);
            const check = () => {
              if (predicate(connection)) {
                clearTimeout(timer);
                waiters.delete(check);
                done();
              }
            };
            waiters.add(check);
          });
        },
        close() {
          request.destroy();
        },
      };
      resolve(connection);
    });
    request.on('error', reject);
  });
}
