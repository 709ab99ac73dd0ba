// Server-Sent Events over fetch. EventSource cannot send an Authorization header, so the dashboard
// reads /v1/stream with fetch and parses the event stream itself (the HTML standard's rules: lines
// end with CRLF, LF or CR; `data` lines join with LF; `id` is remembered for Last-Event-ID; `retry`
// sets the reconnection delay; lines starting with `:` are comments, the server's heartbeats).
//
// The client reconnects on its own, with Last-Event-ID, so the server resumes right after the last
// item it delivered: nothing lost, nothing repeated. A stream that stays silent longer than three
// heartbeats is treated as dead and reopened.

/* global AbortController, TextDecoder, fetch */

/** An incremental parser: feed it text as it arrives; it calls back per message and comment. */
export function createSseParser({ onMessage, onComment = () => {}, onRetry = () => {} }) {
  let buffer = '';
  let pendingCr = false;
  let data = [];
  let eventType = '';
  let idBuffer;

  const dispatch = () => {
    const lastEventId = idBuffer;
    if (data.length === 0) {
      eventType = '';
      return;
    }
    onMessage({ id: lastEventId, event: eventType || 'message', data: data.join('\n') });
    data = [];
    eventType = '';
  };

  const line = (text) => {
    if (text === '') {
      dispatch();
      return;
    }
    if (text.startsWith(':')) {
      onComment(text.slice(1).trim());
      return;
    }
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') eventType = value;
    else if (field === 'id' && !value.includes('\0')) idBuffer = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };

  return {
    push(chunk) {
      let text = chunk;
      // A CR ending the previous chunk already ended its line: skip the LF of that CRLF.
      if (pendingCr && text.startsWith('\n')) text = text.slice(1);
      pendingCr = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        line(buffer.slice(start, i));
        if (c === '\r') {
          if (i + 1 < buffer.length) {
            if (buffer[i + 1] === '\n') i++;
          } else {
            pendingCr = true;
          }
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    /** The last id seen, even on a message without data. */
    get lastEventId() {
      return idBuffer;
    },
  };
}

/** An error that reconnecting will not fix (a refused key, a bad request). */
export class StreamRefused extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * Follows an SSE endpoint until stopped.
 *   url              the stream URL (absolute or same-origin)
 *   headers()        extra headers per connection (Authorization)
 *   lastEventId      where to resume from on the first connection (optional)
 *   onMessage(item)  each message: { id, event, data }
 *   onStatus(s, d)   'connecting' | 'live' | 'reconnecting' (d: delay ms) | 'stopped'
 *   onRefused(err)   401, 403 or 400: the client stops
 *   onExpired()      410 CURSOR_EXPIRED: resync, then return the cursor to resume from (or undefined)
 */
export class SseClient {
  constructor({
    url,
    headers = () => ({}),
    lastEventId,
    onMessage,
    onStatus = () => {},
    onRefused,
    onExpired,
  }) {
    this.url = url;
    this.headers = headers;
    this.lastEventId = lastEventId;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onRefused = onRefused ?? (() => {});
    this.onExpired = onExpired ?? (async () => undefined);
    this.retryMs = 2000;
    this.silentLimitMs = 45_000;
    this.controller = undefined;
    this.wake = undefined;
    this.stopped = false;
    this.connections = 0;
  }

  start() {
    this.stopped = false;
    void this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    this.wake?.();
    this.onStatus('stopped');
  }

  /** Closes the current connection (or ends the wait before the next one): reconnects and resumes now. */
  reconnect() {
    this.controller?.abort(new Error('reconnect'));
    this.wake?.();
  }

  async run() {
    let failures = 0;
    while (!this.stopped) {
      const controller = new AbortController();
      this.controller = controller;
      let delay = this.retryMs;
      try {
        this.onStatus(this.connections === 0 ? 'connecting' : 'reconnecting', 0);
        const headers = { Accept: 'text/event-stream', ...this.headers() };
        if (this.lastEventId !== undefined) headers['Last-Event-ID'] = this.lastEventId;
        const response = await fetch(this.url, { headers, signal: controller.signal, cache: 'no-store' });
        if (!response.ok) {
          const problem = await response.json().catch(() => undefined);
          if (response.status === 410) {
            this.lastEventId = await this.onExpired(problem);
            continue;
          }
          if ([400, 401, 403, 404].includes(response.status)) {
            this.stopped = true;
            this.onRefused(new StreamRefused(response.status, problem));
            this.onStatus('stopped');
            return;
          }
          const retryAfter = Number(response.headers.get('retry-after'));
          if (Number.isFinite(retryAfter) && retryAfter > 0) delay = retryAfter * 1000;
          throw new Error(`HTTP ${response.status}`);
        }
        this.connections++;
        failures = 0;
        this.onStatus('live');
        await this.read(response, controller);
      } catch {
        if (this.stopped) return;
        if (controller.signal.aborted && controller.signal.reason?.message === 'reconnect') delay = 0;
        else failures++;
      }
      controller.abort(); // releases the connection whatever ended it
      if (this.stopped) return;
      // Exponential backoff with jitter after failures, the server's retry after a clean end.
      const backoff = Math.min(30_000, delay * 2 ** Math.min(failures, 4));
      const wait = failures === 0 ? delay : backoff / 2 + Math.random() * (backoff / 2);
      this.onStatus('reconnecting', Math.round(wait));
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, wait);
      });
    }
  }

  async read(response, controller) {
    const parser = createSseParser({
      onMessage: (message) => {
        if (message.id !== undefined) this.lastEventId = message.id;
        this.onMessage(message);
      },
      onRetry: (ms) => {
        this.retryMs = ms;
      },
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let watchdog;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(new Error('silent')), this.silentLimitMs);
    };
    arm();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      clearTimeout(watchdog);
    }
  }
}
