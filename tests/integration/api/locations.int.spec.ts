// Locations over HTTP against the real engine and journal: register (201), update (200), unchanged
// (200, nothing journaled), read, list, and refusals that change nothing.
import { expect } from 'chai';
import type { ApiHarness } from '../../support/api-harness.js';
import { expectProblem, expectSchema, startApi } from '../../support/api-harness.js';

describe('api: locations', function () {
  this.timeout(30_000);
  let api: ApiHarness;
  beforeEach(async () => {
    api = await startApi();
  });
  afterEach(() => api.cleanup());

  it('registers a location with 201, Location and ETag, and journals LocationRegistered', async () => {
    const response = await api.request('PUT', '/v1/locations/S1', {
      body: { name: 'High Street', type: 'store' },
    });
    expect(response.status).to.equal(201);
    expect(response.headers.get('location')).to.equal('/v1/locations/S1');
    expect(response.headers.get('etag')).to.equal('"1"');
    expect(response.json).to.include({ id: 'S1', name: 'High Street', type: 'store', version: 1 });
    expectSchema(api, 'Location', response.json);
    const records = await api.records();
    expect(records).to.have.length(1);
    expect(records[0]).to.include({ stream: 'location/S1', version: 1 });
    expect(records[0]?.events[0]).to.include({
      type: 'LocationRegistered',
      name: 'High Street',
      locationType: 'store',
    });
  });

  it('updates with 200, and an unchanged PUT journals nothing', async () => {
    await api.request('PUT', '/v1/locations/S1', { body: { name: 'High Street', type: 'store' } });
    const renamed = await api.request('PUT', '/v1/locations/S1', {
      body: { name: 'Main Street', type: 'store' },
    });
    expect(renamed.status).to.equal(200);
    expect(renamed.json).to.include({ name: 'Main Street', version: 2 });
    expect(renamed.headers.get('etag')).to.equal('"2"');
    const unchanged = await api.request('PUT', '/v1/locations/S1', {
      body: { name: 'Main Street', type: 'store' },
    });
    expect(unchanged.status).to.equal(200);
    expect(unchanged.json).to.include({ version: 2 });
    const records = await api.records();
    expect(records.map((record) => record.events[0]?.type)).to.deep.equal([
      'LocationRegistered',
      'LocationUpdated',
    ]);
  });

  it('reads one location and lists all, sorted by id', async () => {
    await api.request('PUT', '/v1/locations/W1', { body: { name: 'Warehouse', type: 'warehouse' } });
    await api.request('PUT', '/v1/locations/S1', { body: { name: 'Store', type: 'store' } });
    const one = await api.request('GET', '/v1/locations/W1', { as: 'reader' });
    expect(one.status).to.equal(200);
    expect(one.json).to.include({ id: 'W1', type: 'warehouse' });
    expect(one.headers.get('etag')).to.equal('"1"');
    const list = await api.request('GET', '/v1/locations', { as: 'reader' });
    expect(list.status).to.equal(200);
    expectSchema(api, 'LocationList', list.json);
    expect((list.json.items as { id: string }[]).map((item) => item.id)).to.deep.equal(['S1', 'W1']);
  });

  it('answers 404 LOCATION_NOT_FOUND for an unknown location', async () => {
    expectProblem(api, await api.request('GET', '/v1/locations/NOPE'), 404, 'LOCATION_NOT_FOUND');
  });

  it('refuses an unknown type, an unknown field and an over-long id with 400, journaling nothing', async () => {
    const badType = await api.request('PUT', '/v1/locations/S1', { body: { name: 'x', type: 'castle' } });
    expectProblem(api, badType, 400, 'VALIDATION_FAILED');
    expect(badType.json.errors).to.deep.include({
      in: 'body',
      path: '/type',
      message: 'must be one of: store, warehouse, online',
    });
    const extra = await api.request('PUT', '/v1/locations/S1', {
      body: { name: 'x', type: 'store', colour: 'red' },
    });
    expectProblem(api, extra, 400, 'VALIDATION_FAILED');
    expect(extra.json.errors).to.deep.include({ in: 'body', path: '/', message: 'unknown field "colour"' });
    const longId = await api.request('PUT', `/v1/locations/${'L'.repeat(65)}`, {
      body: { name: 'x', type: 'store' },
    });
    expectProblem(api, longId, 400, 'VALIDATION_FAILED');
    expect(await api.records()).to.have.length(0);
  });
});
