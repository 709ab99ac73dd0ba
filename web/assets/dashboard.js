// The live dashboard. It loads as it is (an ES module, no build step) and talks only to the server
// that served it:
//
//   1. the key a person enters is checked with GET /v1/locations and kept in sessionStorage;
//   2. the changes feed (GET /v1/events) is read from the start to build the grid and the
//      reservation counts, then the stream (GET /v1/stream, fetch-based SSE with the key in the
//      Authorization header) resumes right after the last item read, so nothing is missed between;
//   3. each stream item updates its cell (version-ordered) and flashes it;
//   4. every 5 s one storefront read per store learns which stores are stale (staleSince), and the
//      levels of a stale store are re-read, since the engine withholds an offline buffer there;
//   5. every 2 s /metrics feeds the latency and throughput charts;
//   6. the sale panel posts a till sale through the store path and times its arrival on the stream.

/* global document, fetch, sessionStorage, performance, crypto, requestAnimationFrame, location, URLSearchParams */
import { SseClient } from './sse.js';
import { histogram, histogramDelta, parsePrometheus, quantile, total } from './metrics.js';

const VIEW_KEY = 'stockline.viewKey';
const SALE_KEY = 'stockline.saleKey';
const FEED_PAGE = 1000;
const METRICS_EVERY_MS = 2000;
const STALE_EVERY_MS = 5000;
const CHART_POINTS = 90;
const SALE_TIMEOUT_MS = 10_000;
const LOCATION_ORDER = { warehouse: 0, online: 1, store: 2 };
const STATUSES = ['held', 'payment_pending', 'at_risk', 'confirmed', 'cancelled', 'expired'];

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'className') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

const timeOf = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
const formatMs = (ms) => (ms < 10 ? ms.toFixed(1) : String(Math.round(ms)));
const randomId = () =>
  typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : String(Math.random()).slice(2);

class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, { key, method = 'GET', body, headers = {} } = {}) {
  const response = await fetch(path, {
    method,
    cache: 'no-store',
    headers: {
      Accept: 'application/json',
      Authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) throw new ApiProblem(response.status, json);
  return json;
}

// ---------------------------------------------------------------- state

const state = {
  key: undefined,
  /** id -> { id, name, type } */
  locations: new Map(),
  /** sku -> Map(locationId -> level) */
  levels: new Map(),
  /** reservationId -> { status, resume, risky: Set<"sku@location"> } */
  reservations: new Map(),
  /** locationId -> staleSince, for stores the engine reports silent */
  stale: new Map(),
  liveChanges: 0,
  /** `${storeId}#${seq}` -> (arrival) => void: the sale panel waiting for its sale */
  waiters: new Map(),
  stream: undefined,
  layoutDirty: true,
  dirtyCells: new Map(),
  dirtyRows: new Set(),
  arrivals: [],
  flushScheduled: false,
  measured: [],
};

/** sku -> { row, cells: Map(locationId -> td), online: td } */
const rows = new Map();
let columns = [];

// ---------------------------------------------------------------- applying feed items

function applyItem(item, live) {
  const kind = item.stream.split('/')[0];
  const previous = item.level ? state.levels.get(item.level.sku)?.get(item.level.locationId) : undefined;
  if (item.level) applyLevel(item.level, live, 'stream');
  if (kind === 'reservation') applyReservation(item);
  else if (kind === 'location') applyLocation(item);
  if (!live) return;
  state.liveChanges++;
  logChange(item, previous);
  const source = item.event?.source;
  if (item.type === 'StockSold' && source && typeof source === 'object') {
    const key = `${source.storeId}#${source.seq}`;
    const waiter = state.waiters.get(key);
    if (waiter) state.arrivals.push({ waiter, item });
  }
  scheduleFlush();
}

/**
 * A stream level applies when it is newer than what the page holds; a read applies at the same
 * version too (a read of a stale store withholds its offline buffer, the stream's level does not).
 */
function applyLevel(level, live, origin) {
  let bySku = state.levels.get(level.sku);
  if (!bySku) {
    bySku = new Map();
    state.levels.set(level.sku, bySku);
    state.layoutDirty = true;
  }
  const previous = bySku.get(level.locationId);
  if (
    previous &&
    (origin === 'stream' ? level.version <= previous.version : level.version < previous.version)
  )
    return;
  if (!state.locations.has(level.locationId)) {
    state.locations.set(level.locationId, { id: level.locationId, name: level.locationId, type: 'store' });
    state.layoutDirty = true;
  }
  bySku.set(level.locationId, level);
  if (origin === 'stream' && state.stale.has(level.locationId)) queueRefresh(level.sku);
  if (!state.layoutDirty) {
    const key = `${level.sku}\u0000${level.locationId}`;
    const before = state.dirtyCells.get(key);
    state.dirtyCells.set(key, {
      sku: level.sku,
      locationId: level.locationId,
      previous: before ? before.previous : previous,
      live: live || before?.live,
    });
    state.dirtyRows.add(level.sku);
  }
}

function applyReservation(item) {
  const id = item.reservationId ?? item.stream.slice('reservation/'.length);
  const event = item.event ?? {};
  const reservation = state.reservations.get(id) ?? { status: 'none', resume: undefined, risky: new Set() };
  switch (item.type) {
    case 'ReservationPlaced':
      reservation.status = 'held';
      break;
    case 'ReservationPaymentPending':
      reservation.status = 'payment_pending';
      break;
    case 'ReservationConfirmed':
      reservation.status = 'confirmed';
      break;
    case 'ReservationCancelled':
      reservation.status = 'cancelled';
      break;
    case 'ReservationExpired':
      reservation.status = 'expired';
      break;
    case 'ReservationAbandoned':
      reservation.status = 'abandoned';
      break;
    case 'ReservationFlaggedAtRisk':
    case 'ReservationAtRisk':
      if (reservation.status === 'held' || reservation.status === 'payment_pending')
        reservation.resume = reservation.status;
      reservation.status = 'at_risk';
      reservation.risky.add(`${event.sku}@${event.locationId}`);
      break;
    case 'ReservationLineResourced':
      reservation.risky.delete(`${event.sku}@${event.fromLocationId}`);
      if (reservation.risky.size === 0) {
        reservation.status = reservation.resume ?? 'held';
        reservation.resume = undefined;
      }
      break;
    default:
      break;
  }
  state.reservations.set(id, reservation);
  scheduleFlush();
}

function applyLocation(item) {
  const id = item.stream.slice('location/'.length);
  const event = item.event ?? {};
  const before = state.locations.get(id);
  const next = { id, name: event.name ?? id, type: event.locationType ?? before?.type ?? 'store' };
  state.locations.set(id, next);
  if (!before || before.name !== next.name || before.type !== next.type) state.layoutDirty = true;
}

// ---------------------------------------------------------------- rendering

function scheduleFlush() {
  if (state.flushScheduled) return;
  state.flushScheduled = true;
  // With the next frame when the page is visible; frames pause in a hidden tab, so a timer there
  // (and as a fallback should a frame be late).
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    state.flushScheduled = false;
    flush();
  };
  if (document.visibilityState === 'visible') requestAnimationFrame(run);
  setTimeout(run, document.visibilityState === 'visible' ? 100 : 0);
}

function flush() {
  if (state.layoutDirty) renderGrid();
  for (const change of state.dirtyCells.values()) renderCell(change.sku, change.locationId, change);
  state.dirtyCells.clear();
  for (const sku of state.dirtyRows) renderOnline(sku, true);
  state.dirtyRows.clear();
  renderCards();
  renderReservations();
  // The cells are written: the change is on the page now.
  const seenAt = performance.now();
  for (const { waiter, item } of state.arrivals) waiter({ at: seenAt, wall: Date.now(), item });
  state.arrivals = [];
}

function sortedLocations() {
  return [...state.locations.values()].sort(
    (a, b) =>
      (LOCATION_ORDER[a.type] ?? 3) - (LOCATION_ORDER[b.type] ?? 3) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

function renderGrid() {
  state.layoutDirty = false;
  state.dirtyCells.clear();
  state.dirtyRows.clear();
  columns = sortedLocations();
  const head = $('grid').tHead;
  const body = $('grid').tBodies[0];
  const headRow = element('tr', {}, element('th', { className: 'sku', scope: 'col', text: 'SKU' }));
  for (const location of columns) {
    const stale = state.stale.get(location.id);
    headRow.append(
      element(
        'th',
        {
          scope: 'col',
          className: stale ? 'loc stale' : 'loc',
          title: stale ? `${location.name}: silent since ${timeOf(stale)}` : location.name,
          'data-location': location.id,
        },
        location.id,
        element('span', {
          className: 'loc-type',
          text: stale ? `stale since ${timeOf(stale)}` : location.type,
        }),
      ),
    );
  }
  headRow.append(element('th', { scope: 'col', className: 'online', text: 'Online' }));
  head.replaceChildren(headRow);

  rows.clear();
  const fragment = document.createDocumentFragment();
  for (const sku of [...state.levels.keys()].sort()) {
    const row = element(
      'tr',
      { 'data-sku': sku },
      element('th', { scope: 'row', className: 'sku', text: sku }),
    );
    const cells = new Map();
    for (const location of columns) {
      const cell = element('td', { 'data-sku': sku, 'data-location': location.id });
      cells.set(location.id, cell);
      row.append(cell);
    }
    const online = element('td', { className: 'online', 'data-sku': sku, 'data-location': 'online-total' });
    row.append(online);
    rows.set(sku, { row, cells, online });
    fragment.append(row);
    for (const location of columns) renderCell(sku, location.id, { live: false });
    renderOnline(sku, false);
  }
  body.replaceChildren(fragment);
  applyFilter();
  fillSaleSelects();
}

function flash(cell, direction) {
  cell.classList.remove('flash-up', 'flash-down');
  void cell.offsetWidth; // restart the animation
  cell.classList.add(direction < 0 ? 'flash-down' : 'flash-up');
}

function renderCell(sku, locationId, { previous, live }) {
  const cell = rows.get(sku)?.cells.get(locationId);
  if (!cell) return;
  const level = state.levels.get(sku)?.get(locationId);
  const stale = state.stale.has(locationId);
  cell.classList.toggle('stale', stale);
  if (!level) {
    cell.className = stale ? 'empty stale' : 'empty';
    cell.textContent = '·';
    cell.removeAttribute('data-available');
    return;
  }
  cell.classList.remove('empty');
  cell.classList.toggle('zero', level.available <= 0);
  cell.dataset.available = String(level.available);
  cell.dataset.onHand = String(level.onHand);
  cell.dataset.version = String(level.version);
  cell.title =
    `${sku} at ${locationId}: available ${level.available}, on hand ${level.onHand}, reserved ${level.reserved}, ` +
    `safety stock ${level.safetyStock}, version ${level.version}` +
    (level.staleSince ? `; store silent since ${timeOf(level.staleSince)}` : '');
  cell.replaceChildren(
    element('span', { className: 'avail', text: String(level.available) }),
    element('span', { className: 'detail', text: `${level.onHand} / ${level.reserved}` }),
  );
  if (live) {
    const before = previous ? previous.available : 0;
    const delta = level.available - before || level.onHand - (previous ? previous.onHand : 0);
    flash(cell, delta);
  }
}

function onlineOf(sku) {
  let available = 0;
  for (const level of state.levels.get(sku)?.values() ?? []) available += Math.max(0, level.available);
  return available;
}

function renderOnline(sku, live) {
  const entry = rows.get(sku);
  if (!entry) return;
  const available = onlineOf(sku);
  const before = Number(entry.online.dataset.available ?? available);
  entry.online.dataset.available = String(available);
  entry.online.replaceChildren(element('span', { className: 'avail', text: String(available) }));
  entry.online.classList.toggle('zero', available <= 0);
  if (live && before !== available) flash(entry.online, available - before);
}

function renderCards() {
  let onHand = 0;
  let available = 0;
  for (const bySku of state.levels.values()) {
    for (const level of bySku.values()) {
      onHand += level.onHand;
      available += Math.max(0, level.available);
    }
  }
  $('card-skus').textContent = String(state.levels.size);
  $('card-locations').textContent = String(state.locations.size);
  $('card-onhand').textContent = onHand.toLocaleString();
  $('card-available').textContent = available.toLocaleString();
  $('card-live').textContent = state.liveChanges.toLocaleString();
}

function renderReservations() {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0]));
  for (const reservation of state.reservations.values()) {
    if (reservation.status in counts) counts[reservation.status]++;
  }
  for (const status of STATUSES) $(`res-${status}`).textContent = String(counts[status]);
}

function renderStale() {
  const list = $('stale-list');
  const stores = sortedLocations().filter((location) => location.type === 'store');
  const items = stores.map((store) => {
    const since = state.stale.get(store.id);
    return since
      ? element('li', {
          className: 'stale-store',
          'data-location': store.id,
          text: `${store.id} ${store.name}: silent since ${timeOf(since)}, may be selling offline`,
        })
      : null;
  });
  const stale = items.filter(Boolean);
  list.replaceChildren(
    ...(stale.length > 0
      ? stale
      : [element('li', { className: 'muted', text: `All ${stores.length} stores heard from recently.` })]),
  );
}

/** What a stock event did, in a few characters. */
function movementOf(item) {
  const event = item.event ?? {};
  switch (item.type) {
    case 'StockSold':
      return `sold ${event.quantity}`;
    case 'StockReceived':
      return `${event.reason === 'return' ? 'return' : 'received'} ${event.quantity}`;
    case 'StockAdjusted':
      return `adjust ${event.delta > 0 ? '+' : ''}${event.delta}`;
    case 'StockCounted':
      return `count ${event.onHand}`;
    case 'SafetyStockSet':
      return `safety ${event.safetyStock}`;
    case 'StockReserved':
      return `hold ${event.quantity}`;
    case 'ReservationReleased':
      return `release ${event.quantity}`;
    case 'ReservationCommitted':
      return `commit ${event.quantity}`;
    default:
      return item.type;
  }
}

function logChange(item, previous) {
  const list = $('changes');
  let what;
  let detail = '';
  let className = '';
  if (item.level) {
    what = `${item.level.sku} @ ${item.level.locationId}: ${movementOf(item)}`;
    const before = previous ? previous.available : 0;
    detail = `avail ${before} → ${item.level.available}`;
    className =
      item.level.available < before ? 'delta-down' : item.level.available > before ? 'delta-up' : '';
  } else if (item.reservationId) {
    what = `${item.type.replace(/^Reservation/, 'Reservation ')} ${item.reservationId.slice(0, 8)}`;
  } else {
    what = `${item.type} ${item.stream}`;
  }
  const entry = element(
    'li',
    {},
    element('span', {}, element('span', { className: 'muted', text: `${timeOf(item.at)} ` }), what),
    element('span', { className, text: detail }),
  );
  list.prepend(entry);
  while (list.children.length > 30) list.lastElementChild.remove();
}

function applyFilter() {
  const filter = $('sku-filter').value.trim().toUpperCase();
  for (const [sku, { row }] of rows) row.hidden = filter !== '' && !sku.toUpperCase().includes(filter);
}

function setStatus(text, kind) {
  const pill = $('stream-status');
  pill.textContent = text;
  pill.className = `pill pill-${kind}`;
}

function notice(text) {
  const node = $('grid-notice');
  node.textContent = text ?? '';
  node.hidden = !text;
}

// ---------------------------------------------------------------- loading and following

/** Reads the changes feed from the start; returns the cursor to stream from (undefined: live only). */
async function loadHistory() {
  let after;
  let loaded = 0;
  for (;;) {
    const query = new URLSearchParams({ limit: String(FEED_PAGE) });
    if (after !== undefined) query.set('after', after);
    let page;
    try {
      page = await api(`/v1/events?${query}`, { key: state.key });
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 410) {
        notice(
          'The start of the journal was compacted away: SKUs appear as they change from now on. ' +
            'Levels already shown are current.',
        );
        return undefined;
      }
      throw error;
    }
    for (const item of page.items) applyItem(item, false);
    loaded += page.items.length;
    setStatus(`loading: ${loaded.toLocaleString()} events`, 'connecting');
    if (page.next) after = page.next;
    if (page.items.length < FEED_PAGE) return after;
  }
}

function resetState() {
  state.levels.clear();
  state.reservations.clear();
  state.layoutDirty = true;
}

function startStream(cursor) {
  state.stream = new SseClient({
    url: '/v1/stream',
    headers: () => ({ Authorization: `Bearer ${state.key}` }),
    lastEventId: cursor,
    onMessage: (message) => {
      let item;
      try {
        item = JSON.parse(message.data);
      } catch {
        return;
      }
      applyItem(item, true);
      $('last-event').textContent = `last event ${item.id} at ${timeOf(item.at)}`;
    },
    onStatus: (status, delay) => {
      if (status === 'live') setStatus('live', 'live');
      else if (status === 'reconnecting')
        setStatus(delay ? `reconnecting in ${Math.ceil(delay / 1000)} s` : 'reconnecting', 'connecting');
      else if (status === 'connecting') setStatus('connecting', 'connecting');
    },
    onRefused: (error) => {
      setStatus(`stream refused: ${error.message}`, 'error');
    },
    onExpired: async () => {
      // The cursor is older than the retained journal: rebuild from the feed, then follow again.
      resetState();
      const next = await loadHistory();
      scheduleFlush();
      return next;
    },
  }).start();
}

/** One read per store (any SKU it holds) tells which stores are stale. */
async function pollStale() {
  const pick = new Map();
  for (const [sku, bySku] of state.levels) {
    for (const locationId of bySku.keys()) {
      if (!pick.has(locationId) && state.locations.get(locationId)?.type === 'store')
        pick.set(locationId, sku);
    }
  }
  const skus = [...new Set(pick.values())].slice(0, 100);
  if (skus.length === 0) return;
  const answer = await api(`/v1/stock?skus=${skus.map(encodeURIComponent).join(',')}`, { key: state.key });
  const seen = new Map();
  for (const view of answer.items) {
    for (const level of view.locations) {
      if (pick.get(level.locationId) === view.sku) seen.set(level.locationId, level.staleSince);
    }
  }
  const changed = [];
  for (const locationId of pick.keys()) {
    const now = seen.get(locationId);
    if (now === state.stale.get(locationId)) continue;
    if (now) state.stale.set(locationId, now);
    else state.stale.delete(locationId);
    changed.push(locationId);
  }
  if (changed.length === 0) return;
  // The engine's figures for these stores changed (offline buffer withheld or released): re-read.
  const toRead = new Set();
  for (const [sku, bySku] of state.levels) {
    if (changed.some((locationId) => bySku.has(locationId))) toRead.add(sku);
  }
  await refreshSkus([...toRead]);
  state.layoutDirty = true;
  scheduleFlush();
  renderStale();
}

async function refreshSkus(skus) {
  for (let i = 0; i < skus.length; i += 100) {
    const chunk = skus.slice(i, i + 100);
    const answer = await api(`/v1/stock?skus=${chunk.map(encodeURIComponent).join(',')}`, { key: state.key });
    for (const view of answer.items) for (const level of view.locations) applyLevel(level, false, 'read');
  }
  scheduleFlush();
}

const pendingRefresh = new Set();
let refreshTimer;
function queueRefresh(sku) {
  pendingRefresh.add(sku);
  refreshTimer ??= setTimeout(() => {
    refreshTimer = undefined;
    const skus = [...pendingRefresh];
    pendingRefresh.clear();
    refreshSkus(skus).catch(() => {});
  }, 150);
}

/** Runs `task` every `ms` after the previous run ended (never two at once), the first after `first`. */
function every(ms, task, first = 0) {
  const run = () => {
    task()
      .catch(() => {})
      .finally(() => setTimeout(run, ms));
  };
  setTimeout(run, first);
}

// ---------------------------------------------------------------- charts

let latencyChart;
let throughputChart;
let previousScrape;

function lineDataset(label, color, extra = {}) {
  return {
    label,
    data: [],
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    pointRadius: 1.5,
    tension: 0.2,
    cubicInterpolationMode: 'monotone',
    spanGaps: true,
    ...extra,
  };
}

function makeCharts() {
  const Chart = globalThis.Chart;
  if (!Chart) {
    for (const id of ['latency-chart', 'throughput-chart'])
      $(id).replaceWith(element('p', { className: 'error', text: 'chart.js did not load' }));
    return;
  }
  const options = (unit) => ({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: 'index', intersect: false },
    scales: {
      x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } },
      y: { beginAtZero: true, title: { display: true, text: unit } },
    },
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  });
  latencyChart = new Chart($('latency-chart'), {
    type: 'line',
    data: {
      labels: [],
      datasets: [
        lineDataset('mean', '#2f5bea'),
        lineDataset('p99 (estimated)', '#d64545', { borderDash: [5, 4] }),
        lineDataset('sale → this page (measured)', '#1f9d55', { showLine: false, pointRadius: 5 }),
      ],
    },
    options: options('ms'),
  });
  throughputChart = new Chart($('throughput-chart'), {
    type: 'line',
    data: {
      labels: [],
      datasets: [
        lineDataset('journal records/s', '#2f5bea'),
        lineDataset('till events/s', '#1f9d55'),
        lineDataset('HTTP requests/s', '#8a63d2'),
      ],
    },
    options: options('per second'),
  });
}

function pushPoint(chart, label, values) {
  if (!chart) return;
  chart.data.labels.push(label);
  values.forEach((value, index) => chart.data.datasets[index].data.push(value));
  if (chart.data.labels.length > CHART_POINTS) {
    chart.data.labels.shift();
    for (const dataset of chart.data.datasets) dataset.data.shift();
  }
  chart.update('none');
}

async function pollMetrics() {
  const response = await fetch('/metrics', { cache: 'no-store' });
  if (!response.ok) return;
  const samples = parsePrometheus(await response.text());
  const scrape = {
    at: performance.now(),
    propagation: histogram(samples, 'stockline_propagation_seconds'),
    journal: total(samples, 'stockline_journal_appends') ?? 0,
    till: total(samples, 'stockline_store_events_total', { outcome: 'applied' }) ?? 0,
    http: total(samples, 'stockline_http_request_duration_seconds_count') ?? 0,
  };
  const before = previousScrape;
  previousScrape = scrape;
  if (!before) return;
  const seconds = (scrape.at - before.at) / 1000;
  const rate = (now, then) => (now >= then ? Math.round(((now - then) / seconds) * 10) / 10 : null);
  const delta = histogramDelta(before.propagation, scrape.propagation);
  const mean = delta.count > 0 ? (delta.sum / delta.count) * 1000 : null;
  const p99 = delta.count > 0 ? (quantile(0.99, delta) ?? 0) * 1000 : null;
  const measured = state.measured.length > 0 ? Math.max(...state.measured) : null;
  state.measured = [];
  const label = new Date().toLocaleTimeString();
  pushPoint(latencyChart, label, [round(mean), round(p99), round(measured)]);
  pushPoint(throughputChart, label, [
    rate(scrape.journal, before.journal),
    rate(scrape.till, before.till),
    rate(scrape.http, before.http),
  ]);
}

const round = (value) => (value === null ? null : Math.round(value * 100) / 100);

// ---------------------------------------------------------------- the sale panel

function fillSaleSelects() {
  const storeSelect = $('sale-store');
  const skuSelect = $('sale-sku');
  const chosenStore = storeSelect.value;
  const chosenSku = skuSelect.value;
  const stores = sortedLocations().filter((location) => location.type === 'store');
  storeSelect.replaceChildren(
    ...stores.map((store) => element('option', { value: store.id, text: `${store.id} · ${store.name}` })),
  );
  if (chosenStore) storeSelect.value = chosenStore;
  const skus = [...state.levels.keys()].sort();
  skuSelect.replaceChildren(...skus.map((sku) => element('option', { value: sku, text: sku })));
  if (chosenSku) skuSelect.value = chosenSku;
  else if (skus.includes('TEE-BLK-M')) skuSelect.value = 'TEE-BLK-M';
}

function waitForSale(key) {
  let cancel;
  const promise = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      state.waiters.delete(key);
      reject(new Error(`the change did not reach this page within ${SALE_TIMEOUT_MS / 1000} s`));
    }, SALE_TIMEOUT_MS);
    state.waiters.set(key, (arrival) => {
      clearTimeout(timer);
      state.waiters.delete(key);
      resolve(arrival);
    });
    cancel = () => {
      clearTimeout(timer);
      state.waiters.delete(key);
    };
  });
  return { promise, cancel };
}

function saleError(error, storeId) {
  if (error instanceof ApiProblem) {
    if (error.status === 401) return 'That key was not accepted.';
    if (error.status === 403)
      return `This key may not record sales at ${storeId}: use ${storeId}'s store key or an admin key.`;
    return `${error.status} ${error.problem?.code ?? ''}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function recordSale(event) {
  event.preventDefault();
  const storeId = $('sale-store').value;
  const sku = $('sale-sku').value;
  const quantity = Number($('sale-qty').value);
  const key = $('sale-key').value.trim();
  const result = $('sale-result');
  const button = $('sale-submit');
  sessionStorage.setItem(SALE_KEY, key);
  button.disabled = true;
  result.replaceChildren(
    element('span', { className: 'muted', text: `Recording ${quantity} × ${sku} at ${storeId}…` }),
  );
  try {
    let { lastSeq } = await api(`/v1/stores/${encodeURIComponent(storeId)}`, { key });
    for (let attempt = 0; attempt < 3; attempt++) {
      const seq = lastSeq + 1;
      const occurredAt = new Date().toISOString();
      const seen = waitForSale(`${storeId}#${seq}`);
      const started = performance.now();
      let answer;
      try {
        answer = await api(`/v1/stores/${encodeURIComponent(storeId)}/events`, {
          key,
          method: 'POST',
          headers: { 'Idempotency-Key': `dashboard-${storeId}-${seq}-${randomId()}` },
          body: { events: [{ seq, type: 'sale', sku, quantity, occurredAt }] },
        });
      } catch (error) {
        seen.cancel();
        // Another till event took this seq meanwhile: the engine says which one it expects.
        if (error instanceof ApiProblem && error.problem?.code === 'STORE_SEQUENCE_GAP') {
          lastSeq = Number(error.problem.expectedSeq) - 1;
          continue;
        }
        throw error;
      }
      const answered = performance.now();
      if (answer.applied === 0) {
        seen.cancel();
        lastSeq = answer.lastSeq;
        continue;
      }
      const arrival = await seen.promise;
      const pageMs = arrival.at - started;
      const tillMs = arrival.wall - Date.parse(occurredAt);
      state.measured.push(pageMs);
      $('card-latency').textContent = `${formatMs(pageMs)} ms`;
      result.replaceChildren(
        element('span', { className: 'big', 'data-testid': 'sale-latency', text: `${formatMs(pageMs)} ms` }),
        ` from the request to the change on this page (sale #${seq} at ${storeId}, ${quantity} × ${sku}). `,
        element('span', {
          className: 'muted',
          text: `API answered in ${formatMs(answered - started)} ms; till time to page ${formatMs(Math.max(0, tillMs))} ms.`,
        }),
      );
      const history = $('sale-history');
      history.prepend(
        element('li', {
          text: `${new Date().toLocaleTimeString()} ${storeId} ${sku} −${quantity}: ${formatMs(pageMs)} ms`,
        }),
      );
      while (history.children.length > 5) history.lastElementChild.remove();
      return;
    }
    throw new Error("the store's sequence kept moving (is its till agent running?); try again");
  } catch (error) {
    result.replaceChildren(element('span', { className: 'error', text: saleError(error, storeId) }));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- start

async function open(key) {
  const error = $('key-error');
  error.hidden = true;
  let locations;
  try {
    locations = await api('/v1/locations', { key });
  } catch (problem) {
    error.textContent =
      problem instanceof ApiProblem && problem.status === 401
        ? 'That key was not accepted. Use a reader or storefront key (an admin or store key works too).'
        : `Could not reach the API: ${problem.message}`;
    error.hidden = false;
    sessionStorage.removeItem(VIEW_KEY);
    return;
  }
  state.key = key;
  sessionStorage.setItem(VIEW_KEY, key);
  for (const location of locations.items)
    state.locations.set(location.id, { id: location.id, name: location.name, type: location.type });
  $('key-panel').hidden = true;
  $('dashboard').hidden = false;
  $('forget-key').hidden = false;
  $('sale-key').value = sessionStorage.getItem(SALE_KEY) ?? '';
  makeCharts();
  setStatus('loading', 'connecting');
  const cursor = await loadHistory();
  flush();
  renderStale();
  await pollStale().catch(() => {});
  startStream(cursor);
  every(STALE_EVERY_MS, pollStale, STALE_EVERY_MS);
  every(METRICS_EVERY_MS, pollMetrics);
}

function main() {
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('view-key').value.trim();
    if (key) void open(key);
  });
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(VIEW_KEY);
    sessionStorage.removeItem(SALE_KEY);
    state.stream?.stop();
    location.reload();
  });
  $('sku-filter').addEventListener('input', applyFilter);
  $('sale-form').addEventListener('submit', (event) => void recordSale(event));
  const saved = sessionStorage.getItem(VIEW_KEY);
  if (saved) void open(saved);
}

main();
