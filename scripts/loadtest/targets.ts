// The HTTP targets of issue 6 ("Performance"), evaluated on one run's figures. A target whose figure
// was not measured in the run (its scenario was not run, or --compare was not given) is "not measured".
import type { CeilingResult } from './ceilings.js';
import type { ScenarioReport } from './scenario.js';
import { ratio, unexpectedStatuses } from './stats.js';
import { PACED_SHARE } from './scenarios/mixed.js';
import { PACED_BATCH_CONNECTIONS, PACED_BATCH_RATE } from './scenarios/storefront-read.js';

export interface TargetResult {
  readonly id: string;
  readonly target: string;
  /** The figure, as measured, with its unit. */
  readonly figure: string;
  readonly value: number | null;
  readonly threshold: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
}

export interface Ratio {
  readonly scenario: string;
  readonly figure: string;
  readonly requestsPerSecond: number;
  readonly ceiling: 'POST' | 'GET';
  readonly vsExpress: number | null;
  readonly vsHttp: number | null;
}

/** Loser answers of a flash sale count as quick below this p99. */
export const QUICK_LOSER_P99_MS = 500;

export function ratiosOf(scenarios: readonly ScenarioReport[], ceilings: readonly CeilingResult[]): Ratio[] {
  const express = ceilings.find((ceiling) => ceiling.kind === 'express');
  const http = ceilings.find((ceiling) => ceiling.kind === 'http');
  const find = (name: string) => scenarios.find((scenario) => scenario.name === name);
  const out: Ratio[] = [];
  const add = (
    scenario: string,
    figure: string,
    requestsPerSecond: number | null | undefined,
    ceiling: 'POST' | 'GET',
  ) => {
    if (requestsPerSecond === null || requestsPerSecond === undefined) return;
    const of = (result: CeilingResult | undefined) =>
      result
        ? ratio(requestsPerSecond, (ceiling === 'POST' ? result.post : result.get).requestsPerSecond)
        : null;
    out.push({ scenario, figure, requestsPerSecond, ceiling, vsExpress: of(express), vsHttp: of(http) });
  };
  const storefront = find('storefront-read');
  add('storefront-read', 'single GET /v1/stock/{sku}', storefront?.figures['singleRequestsPerSecond'], 'GET');
  add(
    'storefront-read',
    'batch GET /v1/stock?skus=<100>',
    storefront?.figures['batchRequestsPerSecond'],
    'GET',
  );
  add(
    'reserve-spread',
    'reserve + confirm/cancel POSTs',
    find('reserve-spread')?.figures['requestsPerSecond'],
    'POST',
  );
  add(
    'flash-sale',
    'one SKU: reserve + confirm/cancel POSTs',
    find('flash-sale')?.figures['sustainedRequestsPerSecond'],
    'POST',
  );
  add(
    'till-stream',
    'POST /v1/stores/{id}/events batches',
    find('till-stream')?.figures['requestsPerSecond'],
    'POST',
  );
  add('mixed', 'all requests (70% reads)', find('mixed')?.figures['requestsPerSecond'], 'GET');
  return out;
}

export function evaluateTargets(
  scenarios: readonly ScenarioReport[],
  ceilings: readonly CeilingResult[],
  connections: number,
): TargetResult[] {
  const find = (name: string) => scenarios.find((scenario) => scenario.name === name);
  const express = ceilings.find((ceiling) => ceiling.kind === 'express');
  const http = ceilings.find((ceiling) => ceiling.kind === 'http');
  const spread = find('reserve-spread');
  const flash = find('flash-sale');
  const storefront = find('storefront-read');
  const mixed = find('mixed');
  const results: TargetResult[] = [];
  const push = (result: TargetResult) => results.push(result);
  const fmt = (value: number | null | undefined, unit: string, digits = 0) =>
    value === null || value === undefined
      ? 'not measured'
      : `${value.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit}`;

  const spreadRps = spread?.figures['requestsPerSecond'] ?? null;
  const spreadVsExpress =
    spreadRps !== null && express ? ratio(spreadRps, express.post.requestsPerSecond) : null;
  push({
    id: 'reserve-vs-express-post',
    target: 'Durable reservations over HTTP: >= 60% of the bare-Express POST ceiling',
    figure:
      spreadVsExpress === null
        ? 'not measured'
        : `${Math.round(spreadVsExpress * 100)}% (${fmt(spreadRps, ' req/s')} vs ${fmt(express?.post.requestsPerSecond, ' req/s')})`,
    value: spreadVsExpress,
    threshold: '>= 0.60',
    met: spreadVsExpress === null ? null : spreadVsExpress >= 0.6,
  });
  const spreadP99 = spread?.phases[0]?.latency.p99Ms ?? null;
  push({
    id: 'reserve-p99',
    target: `Durable reservations: p99 under 50 ms at 64 connections (run at ${connections})`,
    figure: fmt(spreadP99, ' ms', 2),
    value: spreadP99,
    threshold: '< 50 ms',
    met: spreadP99 === null ? null : spreadP99 < 50,
  });
  const spreadPhase = spread?.phases[0];
  const unexpected = spreadPhase ? unexpectedStatuses(spreadPhase.statuses, [409]) : undefined;
  const unexpectedCount = unexpected
    ? Object.values(unexpected).reduce((a, b) => a + b, 0) + (spreadPhase?.errors ?? 0)
    : null;
  push({
    id: 'reserve-non-2xx',
    target: 'Durable reservations: zero non-2xx other than the expected 409s',
    figure:
      unexpectedCount === null
        ? 'not measured'
        : `${unexpectedCount} (${spreadPhase?.statuses['409'] ?? 0} x 409 expected)${unexpected && Object.keys(unexpected).length ? ` ${JSON.stringify(unexpected)}` : ''}`,
    value: unexpectedCount,
    threshold: '0',
    met: unexpectedCount === null ? null : unexpectedCount === 0,
  });
  const flashRps = flash?.figures['sustainedRequestsPerSecond'] ?? null;
  const flashVsSpread = flashRps !== null && spreadRps !== null ? ratio(flashRps, spreadRps) : null;
  push({
    id: 'flash-vs-spread',
    target: 'Flash sale on one SKU: >= 50% of the spread-reservation throughput',
    figure:
      flashVsSpread === null
        ? 'not measured'
        : `${Math.round(flashVsSpread * 100)}% (${fmt(flashRps, ' req/s')} vs ${fmt(spreadRps, ' req/s')})`,
    value: flashVsSpread,
    threshold: '>= 0.50',
    met: flashVsSpread === null ? null : flashVsSpread >= 0.5,
  });
  push({
    id: 'flash-oversell',
    target: 'Flash sale: zero oversell',
    figure: flash
      ? `${flash.figures['burstWinners']} winners for the stock; ${flash.invariants.oversold} oversold levels; invariants ${flash.invariants.ok ? 'OK' : 'FAILED'}`
      : 'not measured',
    value: flash ? flash.invariants.oversold : null,
    threshold: '0',
    met: flash ? flash.invariants.ok && flash.invariants.oversold === 0 : null,
  });
  const loserP99 = flash?.figures['loserP99Ms'] ?? null;
  const everyLoser409 = flash ? flash.figures['burstOtherAnswers'] === 0 : null;
  push({
    id: 'flash-losers',
    target: `Flash sale: every loser answered 409 quickly (p99 < ${QUICK_LOSER_P99_MS} ms from its request, TCP set-up excluded)`,
    figure: flash
      ? `${flash.figures['burstLosers']} x 409, ${flash.figures['burstOtherAnswers']} other; loser p50 ${fmt(flash.figures['loserP50Ms'], ' ms', 1)}, p99 ${fmt(loserP99, ' ms', 1)}, max ${fmt(flash.figures['loserMaxMs'], ' ms', 1)}`
      : 'not measured',
    value: loserP99,
    threshold: `all 409, p99 < ${QUICK_LOSER_P99_MS} ms`,
    met: flash ? everyLoser409 === true && loserP99 !== null && loserP99 < QUICK_LOSER_P99_MS : null,
  });
  const singleRps = storefront?.figures['singleRequestsPerSecond'] ?? null;
  const readVsExpress =
    singleRps !== null && express ? ratio(singleRps, express.get.requestsPerSecond) : null;
  push({
    id: 'read-vs-express-get',
    target: 'Storefront reads: >= 80% of the bare-Express GET ceiling',
    figure:
      readVsExpress === null
        ? 'not measured'
        : `${Math.round(readVsExpress * 100)}% (${fmt(singleRps, ' req/s')} vs ${fmt(express?.get.requestsPerSecond, ' req/s')})`,
    value: readVsExpress,
    threshold: '>= 0.80',
    met: readVsExpress === null ? null : readVsExpress >= 0.8,
  });
  const batchP99 = storefront?.figures['pacedBatchP99Ms'] ?? null;
  push({
    id: 'batch-read-p99',
    target: `Storefront reads: a batch read of 100 SKUs under 10 ms p99 (paced: ${PACED_BATCH_RATE} batch reads/s on ${PACED_BATCH_CONNECTIONS} connections)`,
    figure:
      batchP99 === null
        ? 'not measured'
        : `${fmt(batchP99, ' ms', 2)} (at ${connections} saturating connections: ${fmt(storefront?.figures['batchP99Ms'], ' ms', 2)}, the queue)`,
    value: batchP99,
    threshold: '< 10 ms',
    met: batchP99 === null ? null : batchP99 < 10,
  });
  const propagation = mixed?.figures['propagationP99Ms'] ?? null;
  push({
    id: 'propagation-p99',
    target:
      'Till-to-storefront propagation (SSE): p99 under 50 ms on loopback under the mixed load, saturating',
    figure:
      propagation === null
        ? 'not measured'
        : `${fmt(propagation, ' ms', 2)} (p50 ${fmt(mixed?.figures['propagationP50Ms'], ' ms', 2)})`,
    value: propagation,
    threshold: '< 50 ms',
    met: propagation === null ? null : propagation < 50,
  });
  const pacedPropagation = mixed?.figures['pacedPropagationP99Ms'] ?? null;
  push({
    id: 'propagation-p99-paced',
    target: `Till-to-storefront propagation (SSE): p99 under 50 ms on loopback under the mixed load, paced at ${PACED_SHARE * 100}% of the saturating throughput`,
    figure:
      pacedPropagation === null
        ? 'not measured'
        : `${fmt(pacedPropagation, ' ms', 2)} (p50 ${fmt(mixed?.figures['pacedPropagationP50Ms'], ' ms', 2)}) at ${fmt(mixed?.figures['pacedRequestsPerSecond'], ' req/s')}`,
    value: pacedPropagation,
    threshold: '< 50 ms',
    met: pacedPropagation === null ? null : pacedPropagation < 50,
  });
  const expressVsHttp =
    express && http ? ratio(express.post.requestsPerSecond, http.post.requestsPerSecond) : null;
  push({
    id: 'express-vs-http',
    target: 'Express against plain node:http on this machine (report: "about a fifth")',
    figure:
      expressVsHttp === null
        ? 'not measured'
        : `POST ${Math.round(expressVsHttp * 100)}% of node:http; GET ${Math.round((ratio(express?.get.requestsPerSecond ?? 0, http?.get.requestsPerSecond ?? 0) ?? 0) * 100)}%`,
    value: expressVsHttp,
    threshold: 'report',
    met: null,
  });
  return results;
}
