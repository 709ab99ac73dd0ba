// HTTP/1.1 over a bare TCP socket, for requests no well-behaved client sends: duplicated headers, a
// Content-Length that lies, raw bytes in the request target, bodies dribbled one byte at a time.
import net from 'node:net';

export interface RawResponse {
  /** 0 when the connection closed without an answer. */
  readonly status: number;
  readonly head: string;
  readonly body: string;
  readonly timedOut: boolean;
}

export interface RawRequest {
  readonly method: string;
  /** The request target as sent, unescaped: the caller decides what is encoded. */
  readonly target: string;
  /** Header lines as [name, value] pairs, duplicates allowed, sent in order. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: string | Buffer | undefined;
  /** Add Content-Length for the body unless the headers already say something. */
  readonly autoLength?: boolean | undefined;
}

export function rawRequest(port: number, request: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({
        status: match ? Number(match[1]) : 0,
        head,
        body: split < 0 ? '' : text.slice(split + 4),
        timedOut,
      });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A live stream never ends: its head is all we need.
      const text = Buffer.concat(chunks).toString('latin1');
      if (/\r\n\r\n/.test(text) && /content-type: text\/event-stream/i.test(text)) finish(false);
    });
    socket.on('end', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('error', () => finish(false));
    const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
    const hasLength = request.headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
    const lines = [
      `${request.method} ${request.target} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Connection: close',
      ...request.headers.map(([name, value]) => `${name}: ${value}`),
      ...(request.autoLength !== false && !hasLength && body.length > 0
        ? [`Content-Length: ${body.length}`]
        : []),
    ];
    socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
  });
}

/** Opens a socket and writes `text` one byte every `intervalMs`; resolves with the socket once started. */
export function dribble(
  port: number,
  text: string,
  intervalMs: number,
): { socket: net.Socket; stop(): void } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let index = 0;
  const timer = setInterval(() => {
    if (index >= text.length || socket.destroyed) {
      clearInterval(timer);
      return;
    }
    socket.write(text[index++] as string);
  }, intervalMs);
  return {
    socket,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}
