// The record codec: what is encoded decodes to the same record, and any single flipped bit in a line is
// caught (by the crc, or by the JSON or field checks when the flip breaks the structure first).
import { expect } from 'chai';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import type { JournalRecord } from '../../../storage/journal.js';
import { decodeRecord, encodeRecord } from '../../../storage/record.js';

const jsonValue = fc.jsonValue({ maxDepth: 2 });
const event = fc.record(
  { type: fc.string({ minLength: 1 }), payload: jsonValue },
  { requiredKeys: ['type'] },
);

const recordArbitrary: fc.Arbitrary<JournalRecord> = fc
  .record({
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    stream: fc.string({ minLength: 1, unit: 'binary' }),
    version: fc.nat(),
    at: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    events: fc.array(event, { maxLength: 4 }),
    meta: fc.option(fc.dictionary(fc.string(), jsonValue), { nil: undefined }),
  })
  .map(({ meta, ...rest }) => (meta === undefined ? rest : { ...rest, meta }));

/** JSON turns -0 into 0; compare what JSON itself can carry. */
const viaJson = (record: JournalRecord): unknown => JSON.parse(JSON.stringify(record));

describe('record codec', () => {
  it('round-trips any record, one line ending in a newline', () => {
    fc.assert(
      fc.property(recordArbitrary, (record) => {
        const line = encodeRecord(record);
        expect(line.endsWith('\n')).to.equal(true);
        expect(line.indexOf('\n')).to.equal(line.length - 1);
        const decoded = decodeRecord(line);
        expect(decoded.ok, JSON.stringify(decoded)).to.equal(true);
        if (decoded.ok) expect(viaJson(decoded.record)).to.deep.equal(viaJson(record));
      }),
    );
  });

  it('writes pure JSON whose crc covers the record without the crc field', () => {
    const record: JournalRecord = {
      seq: 7,
      stream: 'stock/SKU-1/STORE-1',
      version: 3,
      at: '2025-01-01T00:00:00.000Z',
      events: [{ type: 'StockReceived' }],
      meta: { idempotencyKey: 'k-1' },
    };
    const line = encodeRecord(record);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { crc, ...rest } = parsed;
    expect(rest).to.deep.equal(record);
    expect(crc).to.match(/^[0-9a-f]{8}$/);
    expect(Object.keys(parsed).at(-1)).to.equal('crc');
  });

  it('detects a flipped bit at any position of a line', () => {
    fc.assert(
      fc.property(recordArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }), (record, position, bit) => {
        const bytes = Buffer.from(encodeRecord(record).slice(0, -1), 'utf8');
        const at = position % bytes.length;
        bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
        expect(decodeRecord(bytes).ok, `bit ${bit} of byte ${at}`).to.equal(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('reports why a line does not decode, without throwing', () => {
    const good = encodeRecord({ seq: 1, stream: 's', version: 1, at: 'now', events: [] }).slice(0, -1);
    expect(decodeRecord('')).to.include({ ok: false, reason: 'bad-crc' });
    expect(decodeRecord('{"seq":1}')).to.include({ ok: false, reason: 'bad-crc' });
    expect(decodeRecord(good.replace('"seq":1', '"seq":2'))).to.include({ ok: false, reason: 'bad-crc' });

    // A correct crc over text that is not JSON, or over JSON missing fields: checksummed, still refused.
    const withCrc = (body: string): string =>
      `${body.slice(0, -1)},"crc":"${crc32(body).toString(16).padStart(8, '0')}"}`;
    expect(decodeRecord(withCrc('{"seq":1,}'))).to.include({ ok: false, reason: 'bad-json' });
    expect(decodeRecord(withCrc('{"seq":1,"stream":"s"}'))).to.include({
      ok: false,
      reason: 'missing-fields',
    });
    expect(decodeRecord(withCrc('{"seq":0,"stream":"s","version":1,"at":"now","events":[]}'))).to.include({
      ok: false,
      reason: 'missing-fields',
    });
    expect(decodeRecord(withCrc('{"seq":1,"stream":"s","version":1,"at":"now","events":[{}]}'))).to.include({
      ok: false,
      reason: 'missing-fields',
    });
    expect(decodeRecord(withCrc('{"seq":1,"stream":"s","version":1,"at":"now","events":[]}')).ok).to.equal(
      true,
    );
  });
});
