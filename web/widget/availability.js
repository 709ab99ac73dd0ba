/*
 * Stockline availability widget: live availability of one SKU on any product page, with one tag.
 *
 *   <script src="https://stock.example.com/widget/availability.js"
 *           data-sku="TEE-BLK-M" data-key="READER_KEY" async></script>
 *
 * Attributes: data-sku (required), data-key (required: a key of the `reader` role, which can only
 * read: the key is visible in the page's source), data-base (the Stockline server; default: where
 * this script came from), data-target (a CSS selector of the element to render into; default: a
 * new element right after the script tag), data-locations (comma-separated location ids to count;
 * default: every location, as the storefront promises), data-low-stock (show "Only n left" at or
 * below n; default 5), data-label-in-stock, data-label-low-stock ("{n}" is the count),
 * data-label-out-of-stock, data-label-unavailable.
 *
 * It reads GET /v1/stock/{sku}, then follows GET /v1/stream?sku=... (Server-Sent Events read with
 * fetch, so the key travels in the Authorization header) and reconnects on its own with
 * Last-Event-ID, so the server resumes right after the last change it delivered. The host element
 * gets data-available, data-stock (in_stock | low_stock | out_of_stock) and data-state (loading |
 * live | reconnecting | error), and fires a bubbling `stockline:availability` event on each change.
 * Script use: window.StocklineAvailability.mount(element, { sku, key, base }).
 *
 * No dependencies, no build step; docs/widget.md explains how a legacy page adopts it.
 */
/* global window, document, fetch, AbortController, TextDecoder, CustomEvent, CSSStyleSheet */
(function () {
  'use strict';

  const script = document.currentScript;
  if (window.StocklineAvailability) {
    if (script && script.dataset.sku) window.StocklineAvailability.mountScript(script);
    return;
  }

  const VERSION = '1.0.0';
  const REREAD_MS = 60_000;
  const SILENT_LIMIT_MS = 45_000;
  const MAX_BACKOFF_MS = 30_000;

  const CSS = `
    :host { display: inline-block; font: inherit; }
    .box { display: inline-flex; align-items: center; gap: 0.5em; padding: 0.35em 0.7em;
      border-radius: 0.5em; border: 1px solid var(--stockline-border, #dfe3ea);
      background: var(--stockline-background, #fff); color: var(--stockline-text, #1d2433); }
    .dot { width: 0.6em; height: 0.6em; border-radius: 50%; background: #b4bac6; flex: none; }
    .in_stock .dot { background: var(--stockline-in-stock, #1f9d55); }
    .low_stock .dot { background: var(--stockline-low-stock, #c27c0e); }
    .out_of_stock .dot { background: var(--stockline-out-of-stock, #d64545); }
    .label { font-weight: 600; }
    .live { font-size: 0.75em; color: var(--stockline-muted, #677086); margin-left: 0.25em; }
    .live:empty { display: none; }
    .live::before { content: '\\25CF\\a0'; color: #b4bac6; }
    .state-live .live::before { color: var(--stockline-in-stock, #1f9d55); }
  `;

  /** Incremental text/event-stream parser (LF, CRLF or CR line ends; comments are heartbeats). */
  function sseParser(onMessage) {
    let buffer = '';
    let pendingCr = false;
    let data = [];
    let id;
    const line = (text) => {
      if (text === '') {
        if (data.length > 0) onMessage({ id, data: data.join('\n') });
        data = [];
        return;
      }
      if (text[0] === ':') return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'id' && value.indexOf('\0') < 0) id = value;
    };
    return (chunk) => {
      let text = chunk;
      if (pendingCr && text[0] === '\n') text = text.slice(1);
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
          } else pendingCr = true;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    };
  }

  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      if (signal) signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });

  const listOf = (text) =>
    text
      ? text
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean)
      : undefined;

  class Widget {
    constructor(host, options) {
      this.host = host;
      this.sku = options.sku;
      this.key = options.key;
      this.base = (options.base || window.location.origin).replace(/\/+$/, '');
      this.locations = options.locations ? new Set(options.locations) : undefined;
      this.lowStock = Number.isFinite(options.lowStock) ? options.lowStock : 5;
      this.labels = Object.assign(
        {
          inStock: 'In stock',
          lowStock: 'Only {n} left',
          outOfStock: 'Out of stock',
          unavailable: 'Availability unavailable',
          loading: 'Checking availability…',
        },
        options.labels || {},
      );
      this.levels = new Map();
      this.cursor = undefined;
      this.stopped = false;
      this.controller = undefined;
      this.retryMs = 2000;
      this.rereadTimer = undefined;
      this.staleReadTimer = undefined;
      this.render('loading');
    }

    start() {
      if (!this.sku || !this.key) {
        this.fail('data-sku and data-key are required');
        return this;
      }
      this.run();
      return this;
    }

    stop() {
      this.stopped = true;
      if (this.controller) this.controller.abort();
      clearTimeout(this.rereadTimer);
      clearTimeout(this.staleReadTimer);
    }

    /** Re-reads the storefront view now. */
    refresh() {
      return this.read();
    }

    headers(extra) {
      return Object.assign({ Authorization: 'Bearer ' + this.key }, extra || {});
    }

    get available() {
      let total = 0;
      for (const level of this.levels.values()) {
        if (!this.locations || this.locations.has(level.locationId)) total += Math.max(0, level.available);
      }
      return total;
    }

    /** The storefront view: exact figures, a silent store's offline buffer already withheld. */
    async read() {
      const response = await fetch(this.base + '/v1/stock/' + encodeURIComponent(this.sku), {
        headers: this.headers({ Accept: 'application/json' }),
        cache: 'no-store',
        credentials: 'omit',
      });
      if (!response.ok)
        throw Object.assign(new Error('HTTP ' + response.status), { status: response.status });
      const view = await response.json();
      for (const level of view.locations) this.apply(level, 'read');
      this.render();
    }

    /** Levels carry their gap-free version: an older one never overwrites a newer one. */
    apply(level, origin) {
      const previous = this.levels.get(level.locationId);
      if (
        previous &&
        (origin === 'read' ? level.version < previous.version : level.version <= previous.version)
      )
        return;
      this.levels.set(level.locationId, level);
      // The stream's level does not withhold a silent store's offline buffer: re-read that store soon.
      if (origin === 'stream' && previous && previous.staleSince && !this.staleReadTimer) {
        this.staleReadTimer = setTimeout(
          () => {
            this.staleReadTimer = undefined;
            this.read().catch(() => {});
          },
          100 + Math.random() * 500,
        );
      }
    }

    scheduleReread() {
      clearTimeout(this.rereadTimer);
      this.rereadTimer = setTimeout(
        () => {
          this.read()
            .catch(() => {})
            .then(() => this.scheduleReread());
        },
        REREAD_MS * (0.75 + Math.random() / 2),
      );
    }

    async run() {
      let failures = 0;
      let readDone = false;
      while (!this.stopped) {
        const controller = new AbortController();
        this.controller = controller;
        let delay = this.retryMs;
        try {
          let url = this.base + '/v1/stream?sku=' + encodeURIComponent(this.sku);
          if (this.locations) url += '&locationId=' + [...this.locations].map(encodeURIComponent).join(',');
          const headers = this.headers({ Accept: 'text/event-stream' });
          if (this.cursor !== undefined) headers['Last-Event-ID'] = this.cursor;
          const response = await fetch(url, {
            headers,
            signal: controller.signal,
            cache: 'no-store',
            credentials: 'omit',
          });
          if (response.status === 410) {
            // Resumed too late: the server no longer has what was missed. Start afresh and re-read.
            this.cursor = undefined;
            readDone = false;
            continue;
          }
          if ([400, 401, 403, 404].indexOf(response.status) >= 0) {
            this.fail(
              'the server refused the stream (HTTP ' + response.status + '): check data-key and data-sku',
            );
            return;
          }
          if (!response.ok) {
            const retryAfter = Number(response.headers.get('retry-after'));
            if (retryAfter > 0) delay = retryAfter * 1000;
            throw new Error('HTTP ' + response.status);
          }
          // Subscribed: changes from now on arrive on the stream, so a read now misses nothing.
          // After a resume (Last-Event-ID) the server replays what was missed: no read needed.
          if (!readDone) {
            await this.read();
            readDone = true;
            this.scheduleReread();
          }
          failures = 0;
          this.render('live');
          await this.follow(response, controller);
        } catch (error) {
          if (this.stopped) return;
          if (error && error.status >= 400 && error.status < 500) {
            this.fail('the server refused the read (HTTP ' + error.status + ')');
            return;
          }
          failures++;
        }
        controller.abort(); // releases the connection whatever ended it
        if (this.stopped) return;
        this.render('reconnecting');
        const backoff = Math.min(MAX_BACKOFF_MS, delay * Math.pow(2, Math.min(failures, 4)));
        await sleep(failures === 0 ? delay : backoff / 2 + (Math.random() * backoff) / 2);
      }
    }

    async follow(response, controller) {
      const push = sseParser((message) => {
        if (message.id !== undefined) this.cursor = message.id;
        let item;
        try {
          item = JSON.parse(message.data);
        } catch {
          return;
        }
        if (!item.level || item.level.sku !== this.sku) return;
        this.apply(item.level, 'stream');
        this.render();
      });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let watchdog;
      const arm = () => {
        clearTimeout(watchdog);
        // Heartbeats arrive every 15 s by default: three missed means a dead connection.
        watchdog = setTimeout(() => controller.abort(), SILENT_LIMIT_MS);
      };
      arm();
      try {
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          arm();
          push(decoder.decode(chunk.value, { stream: true }));
        }
      } finally {
        clearTimeout(watchdog);
      }
    }

    fail(reason) {
      this.stopped = true;
      console.warn('[stockline availability] ' + this.sku + ': ' + reason);
      this.render('error');
    }

    render(connection) {
      if (connection) this.connection = connection;
      const host = this.host;
      const root = this.root || (this.root = this.attach());
      const hasData = this.levels.size > 0;
      const available = this.available;
      const stock = !hasData
        ? undefined
        : available <= 0
          ? 'out_of_stock'
          : available <= this.lowStock
            ? 'low_stock'
            : 'in_stock';
      let label;
      let detail = '';
      if (this.connection === 'error' && !hasData) label = this.labels.unavailable;
      else if (!stock) label = this.labels.loading;
      else if (stock === 'out_of_stock') label = this.labels.outOfStock;
      else if (stock === 'low_stock') label = this.labels.lowStock.replace('{n}', String(available));
      else {
        label = this.labels.inStock;
        detail = available + ' available';
      }
      const liveText =
        this.connection === 'live'
          ? 'live'
          : this.connection === 'reconnecting'
            ? 'reconnecting…'
            : this.connection === 'error'
              ? 'not live'
              : '';
      root.box.className = 'box ' + (stock || 'unknown') + ' state-' + this.connection;
      root.label.textContent = label;
      root.detail.textContent = detail;
      root.detail.hidden = detail === '';
      root.live.textContent = liveText;
      host.setAttribute('data-state', this.connection);
      if (stock) {
        const changed = host.getAttribute('data-available') !== String(available);
        host.setAttribute('data-available', String(available));
        host.setAttribute('data-stock', stock);
        if (changed) {
          host.dispatchEvent(
            new CustomEvent('stockline:availability', {
              bubbles: true,
              composed: true,
              detail: { sku: this.sku, available, stock, levels: [...this.levels.values()] },
            }),
          );
        }
      }
    }

    attach() {
      const host = this.host;
      let shadow = host.shadowRoot;
      if (!shadow && typeof host.attachShadow === 'function') {
        try {
          shadow = host.attachShadow({ mode: 'open' });
        } catch {
          shadow = undefined;
        }
      }
      const container = shadow || host;
      // A constructed stylesheet needs no inline <style>, so a strict style-src CSP allows it.
      if (shadow && 'adoptedStyleSheets' in shadow && typeof CSSStyleSheet === 'function') {
        try {
          const sheet = new CSSStyleSheet();
          sheet.replaceSync(CSS);
          shadow.adoptedStyleSheets = [sheet];
        } catch {
          /* unstyled, still readable */
        }
      }
      const box = document.createElement('span');
      box.setAttribute('part', 'box');
      box.setAttribute('role', 'status');
      box.setAttribute('aria-live', 'polite');
      const dot = document.createElement('span');
      dot.className = 'dot';
      const label = document.createElement('span');
      label.className = 'label';
      label.setAttribute('part', 'label');
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.setAttribute('part', 'detail');
      const live = document.createElement('span');
      live.className = 'live';
      live.setAttribute('part', 'live');
      box.append(dot, label, detail, live);
      container.replaceChildren(box);
      return { box, label, detail, live };
    }
  }

  function optionsOf(dataset, fallbackBase) {
    return {
      sku: dataset.sku,
      key: dataset.key,
      base: dataset.base || fallbackBase,
      locations: listOf(dataset.locations),
      lowStock: dataset.lowStock === undefined ? undefined : Number(dataset.lowStock),
      labels: {
        inStock: dataset.labelInStock,
        lowStock: dataset.labelLowStock,
        outOfStock: dataset.labelOutOfStock,
        unavailable: dataset.labelUnavailable,
      },
    };
  }

  function clean(labels) {
    const out = {};
    for (const name in labels) if (labels[name]) out[name] = labels[name];
    return out;
  }

  const api = {
    version: VERSION,
    /** Renders live availability into `element`; returns { stop(), refresh(), available }. */
    mount(element, options) {
      const widget = new Widget(element, Object.assign({}, options, { labels: clean(options.labels || {}) }));
      return widget.start();
    },
    /** Mounts the widget a script tag describes (what the tag itself does when it runs). */
    mountScript(tag) {
      const origin = tag.src ? new URL(tag.src, window.location.href).origin : window.location.origin;
      const options = optionsOf(tag.dataset, origin);
      const place = () => {
        let host;
        if (tag.dataset.target) host = document.querySelector(tag.dataset.target);
        if (!host) {
          host = document.createElement('span');
          host.className = 'stockline-availability';
          tag.insertAdjacentElement('afterend', host);
        }
        return api.mount(host, options);
      };
      if (
        tag.dataset.target &&
        !document.querySelector(tag.dataset.target) &&
        document.readyState === 'loading'
      ) {
        document.addEventListener('DOMContentLoaded', place, { once: true });
        return undefined;
      }
      return place();
    },
  };
  window.StocklineAvailability = api;
  if (script && script.dataset.sku) api.mountScript(script);
})();
