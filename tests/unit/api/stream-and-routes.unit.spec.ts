// Pure helpers of the live stream (cursor positions, filters, message format) and of route
// declarations (Express paths and matchers from OpenAPI templates).
import { expect } from 'chai';
import type { FeedItem } from '../../../engine/types.js';
import { cursorOf, matches, positionOf, sseMessage, stockKeyOf } from '../../../api/stream.js';
import { expressPathOf, templateMatcher } from '../../../api/route.js';

const item = (stream: string, extra: Partial<FeedItem> = {}): FeedItem => ({
  id: '5.1',
  seq: 5,
  index: 1,
  stream,
  type: 'StockAdjusted',
  version: 3,
  at: '2026-01-01T00:00:00.000Z',
  event: { type: 'StockAdjusted' },
  ...extra,
});

describe('api stream helpers', () => {
  it('parses cursors into positions; a bare seq means after all of it', () => {
    expect(positionOf('12.3')).to.deep.equal([12, 3]);
    expect(positionOf('12')).to.deep.equal([12, Number.POSITIVE_INFINITY]);
    expect(positionOf('x')).to.equal(undefined);
    expect(cursorOf([12, 3])).to.equal('12.3');
    expect(cursorOf([12, Number.POSITIVE_INFINITY])).to.equal('12');
  });

  it('filters stock items by SKU and location; with a filter, other streams are left out', () => {
    const stock = item('stock/TEE/S1');
    expect(stockKeyOf(stock)).to.deep.equal({ sku: 'TEE', locationId: 'S1' });
    expect(matches({}, item('reservation/r1'))).to.equal(true);
    expect(matches({ skus: new Set(['TEE']) }, stock)).to.equal(true);
    expect(matches({ skus: new Set(['CAP']) }, stock)).to.equal(false);
    expect(matches({ locations: new Set(['S1']), skus: new Set(['TEE']) }, stock)).to.equal(true);
    expect(matches({ locations: new Set(['S2']) }, stock)).to.equal(false);
    expect(matches({ locations: new Set(['S1']) }, item('reservation/r1'))).to.equal(false);
  });

  it('writes one SSE message with the item id and its JSON on one data line', () => {
    const message = sseMessage(item('stock/TEE/S1', { event: { type: 'StockAdjusted', reference: 'a\nb' } }));
    expect(message.startsWith('id: 5.1\ndata: {')).to.equal(true);
    expect(message.endsWith('}\n\n')).to.equal(true);
    expect(message.split('\n')).to.have.length(4);
  });
});

describe('api route helpers', () => {
  it('turns OpenAPI templates into Express paths, escaping literal colons', () => {
    expect(expressPathOf('/v1/locations/{locationId}/stock/{sku}')).to.equal(
      '/v1/locations/:locationId/stock/:sku',
    );
    expect(expressPathOf('/v1/locations/{locationId}/stock:batch')).to.equal(
      '/v1/locations/:locationId/stock\\:batch',
    );
  });

  it('matches paths the way Express does', () => {
    const matcher = templateMatcher('/v1/locations/{locationId}/stock:batch');
    expect(matcher.test('/v1/locations/S1/stock:batch')).to.equal(true);
    expect(matcher.test('/V1/Locations/S1/stock:batch/')).to.equal(true);
    expect(matcher.test('/v1/locations/S1/stockxbatch')).to.equal(false);
    expect(matcher.test('/v1/locations/S1/x/stock:batch')).to.equal(false);
  });
});
