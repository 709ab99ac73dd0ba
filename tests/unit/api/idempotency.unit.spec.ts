// Request fingerprints for Idempotency-Key: equal requests give equal fingerprints whatever the
// key order of their JSON; any difference in operation, path or body gives another.
import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalJson, fingerprintOf, stepIdempotency } from '../../../api/idempotency.js';

const shuffleKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(shuffleKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).reverse();
  return Object.fromEntries(entries.map(([key, item]) => [key, shuffleKeys(item)]));
};

describe('api idempotency fingerprints', () => {
  it('canonical JSON does not depend on key order (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(shuffleKeys(value))).to.equal(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).to.deep.equal(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('differs when the method, path, parameters, body or preconditions differ', () => {
    const base = {
      method: 'post',
      path: '/v1/reservations',
      params: {},
      body: { lines: [{ sku: 'A', quantity: 1 }] },
    };
    const fingerprint = fingerprintOf(base);
    expect(fingerprintOf({ ...base, method: 'POST', body: { lines: [{ quantity: 1, sku: 'A' }] } })).to.equal(
      fingerprint,
    );
    expect(fingerprintOf({ ...base, body: { lines: [{ sku: 'A', quantity: 2 }] } })).to.not.equal(
      fingerprint,
    );
    expect(fingerprintOf({ ...base, path: '/v1/other' })).to.not.equal(fingerprint);
    expect(fingerprintOf({ ...base, params: { id: 'x' } })).to.not.equal(fingerprint);
    expect(fingerprintOf({ ...base, preconditions: { ifMatch: '"1"' } })).to.not.equal(fingerprint);
    expect(fingerprint).to.match(/^[0-9a-f]{64}$/);
  });

  it('derives distinct, stable step keys for batch rows', () => {
    const parent = { key: 'k:abc', fingerprint: 'f' };
    expect(stepIdempotency(parent, 'row-1')).to.deep.equal(stepIdempotency(parent, 'row-1'));
    expect(stepIdempotency(parent, 'row-1').key).to.equal('k:abc#row-1');
    expect(stepIdempotency(parent, 'row-1').fingerprint).to.not.equal(
      stepIdempotency(parent, 'row-2').fingerprint,
    );
  });
});
