// API keys and roles: constant-time lookup over digests, hashed keys, the Bearer scheme, and the
// role rules (a store key writes only its own location).
import { expect } from 'chai';
import { access, actorOf, authenticate, authorize } from '../../../api/auth.js';
import { digestOf, parseApiKeys } from '../../../api/config.js';
import { ApiError } from '../../../api/problem.js';

const { keys } = parseApiKeys(
  [
    'admin-key-0123456789:admin',
    `sha256:${digestOf('hashed-store-key-0123').toString('hex')}:store:S1`,
    'shop-key-0123456789:storefront',
    'dash-key-0123456789:reader',
  ].join(','),
);

const codeOf = (run: () => void): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).to.be.instanceOf(ApiError);
    return (error as ApiError).code;
  }
};

describe('api auth', () => {
  it('finds the principal of a Bearer key, plain or configured hashed', () => {
    expect(authenticate(keys, 'Bearer admin-key-0123456789')).to.include({ role: 'admin' });
    expect(authenticate(keys, 'bearer   hashed-store-key-0123')).to.include({
      role: 'store',
      locationId: 'S1',
    });
    expect(authenticate(keys, 'Bearer hashed-store-key-0123')?.keyId).to.equal(keys[1]?.id);
  });

  it('finds nothing for a missing, wrong, non-Bearer or digest-as-key credential', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer admin-key-012345678',
      'Basic admin-key-0123456789',
      `Bearer ${digestOf('hashed-store-key-0123').toString('hex')}`,
      `Bearer sha256:${digestOf('hashed-store-key-0123').toString('hex')}`,
      'Bearer admin-key-0123456789 extra',
    ]) {
      expect(authenticate(keys, header), String(header)).to.equal(undefined);
    }
  });

  it('authorizes by role, and a store only on its own location', () => {
    const store = { keyId: 'k', role: 'store' as const, locationId: 'S1' };
    const reader = { keyId: 'r', role: 'reader' as const };
    const shop = { keyId: 's', role: 'storefront' as const };
    expect(codeOf(() => authorize(access.locationStock, store, { locationId: 'S1', sku: 'A' }))).to.equal(
      undefined,
    );
    expect(codeOf(() => authorize(access.locationStock, store, { locationId: 'S2', sku: 'A' }))).to.equal(
      'FORBIDDEN',
    );
    expect(codeOf(() => authorize(access.storeEvents, store, { storeId: 'S1' }))).to.equal(undefined);
    expect(codeOf(() => authorize(access.storeEvents, store, { storeId: 'S2' }))).to.equal('FORBIDDEN');
    expect(codeOf(() => authorize(access.reservations, store, {}))).to.equal('FORBIDDEN');
    expect(codeOf(() => authorize(access.reservations, shop, {}))).to.equal(undefined);
    expect(codeOf(() => authorize(access.read, reader, {}))).to.equal(undefined);
    expect(codeOf(() => authorize(access.locationStock, reader, { locationId: 'S1' }))).to.equal('FORBIDDEN');
    expect(codeOf(() => authorize(access.admin, undefined, {}))).to.equal('UNAUTHENTICATED');
    expect(codeOf(() => authorize(access.public, undefined, {}))).to.equal(undefined);
  });

  it('records who acted by role, location and key id, never the key', () => {
    expect(actorOf({ keyId: 'abcd', role: 'store', locationId: 'S1' })).to.equal('store@S1#abcd');
    expect(actorOf({ keyId: 'ef01', role: 'admin' })).to.equal('admin#ef01');
  });
});
