// The journal's record codec: one record is one line of pure JSON ending in "\n", whose last field is a
// CRC-32 of the record's JSON text without that field:
//   {"seq":1,"stream":"stock/A/S1","version":1,"at":"…","events":[…],"meta":{…},"crc":"1a2b3c4d"}\n
// The crc field is always the last 18 bytes before the newline (`,"crc":"` + 8 hex digits + `"}`), so
// decoding recomputes the checksum over the bytes before it plus the closing brace, without re-serialising.
import { crc32 } from 'node:zlib';
import type { JournalRecord } from './journal.js';

/** `,"crc":"` + 8 hex digits + `"}`: the fixed-length end of every encoded line (newline excluded). */
const CRC_SUFFIX_BYTES = 18;
const CRC_FIELD_PREFIX = ',"crc":"';
const CLOSING_BRACE = Buffer.from('}');
const QUOTE = 0x22;
const BRACE = 0x7d;

export type DecodeFailureReason = 'bad-json' | 'bad-crc' | 'missing-fields';

export type DecodeResult =
  | { readonly ok: true; readonly record: JournalRecord }
  | { readonly ok: false; readonly reason: DecodeFailureReason; readonly detail: string };

const crcHex = (value: number): string => value.toString(16).padStart(8, '0');

/** The CRC-32 (zlib's, reflected 0xedb88320) table for one byte. */
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, byte) => {
  let c = byte;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** crc32('}', crc): the running CRC extended by the closing brace, without a second native call. */
const withClosingBrace = (crc: number): number => {
  const c = ~crc;
  return ~((CRC_TABLE[(c ^ BRACE) & 0xff] as number) ^ (c >>> 8)) >>> 0;
};

/**
 * The record's JSON text without its closing brace: the bytes the CRC covers (with the brace) and the
 * line's start. Throws (TypeError from JSON.stringify) when the events or meta are not
 * JSON-serialisable; the journal checks that before it assigns a sequence number.
 *
 * Written field by field rather than through a temporary object: byte for byte what
 * JSON.stringify({ seq, stream, version, at, events, meta }) gives for a well-formed record (integer
 * seq and version, string stream and at, an events array); anything else goes through that object.
 */
export function encodeRecordBody(record: JournalRecord): string {
  // A fixed key order keeps `seq` first, which recovery relies on to find record starts in damaged bytes.
  if (
    Number.isSafeInteger(record.seq) &&
    Number.isSafeInteger(record.version) &&
    typeof record.stream === 'string' &&
    typeof record.at === 'string' &&
    Array.isArray(record.events)
  ) {
    const head = `{"seq":${record.seq},"stream":${JSON.stringify(record.stream)},"version":${record.version},"at":${JSON.stringify(record.at)},"events":${JSON.stringify(record.events)}`;
    if (record.meta === undefined) return head;
    const meta = JSON.stringify(record.meta) as string | undefined;
    // A meta whose toJSON gives undefined is left out, as JSON.stringify of the whole object would.
    return meta === undefined ? head : `${head},"meta":${meta}`;
  }
  const body = JSON.stringify(
    record.meta === undefined
      ? {
          seq: record.seq,
          stream: record.stream,
          version: record.version,
          at: record.at,
          events: record.events,
        }
      : {
          seq: record.seq,
          stream: record.stream,
          version: record.version,
          at: record.at,
          events: record.events,
          meta: record.meta,
        },
  );
  return body.slice(0, -1);
}

/** Encodes a record as one journal line, newline included (see encodeRecordBody for what throws). */
export function encodeRecord(record: JournalRecord): string {
  const body = encodeRecordBody(record);
  return `${body}${CRC_FIELD_PREFIX}${crcHex(crc32(CLOSING_BRACE, crc32(body)))}"}\n`;
}

/** Bytes a line takes at most in UTF-8 for a body of `bodyLength` UTF-16 units (see writeRecordLine). */
export const maxLineBytes = (bodyLength: number): number => bodyLength * 3 + CRC_SUFFIX_BYTES + 1;

const HEX = '0123456789abcdef';

/**
 * Writes the line of a body from encodeRecordBody into `buf` at `offset` (newline included), computing
 * the CRC over the bytes just written, and returns the bytes written. Gives exactly encodeRecord's bytes
 * without building the line as a string. `buf` must have maxLineBytes(body.length) bytes free.
 */
export function writeRecordLine(buf: Buffer, offset: number, body: string): number {
  const bodyBytes = buf.write(body, offset, 'utf8');
  let at = offset + bodyBytes;
  const crc = withClosingBrace(crc32(buf.subarray(offset, at)));
  for (let i = 0; i < CRC_FIELD_PREFIX.length; i++) buf[at++] = CRC_FIELD_PREFIX.charCodeAt(i);
  for (let shift = 28; shift >= 0; shift -= 4) buf[at++] = HEX.charCodeAt((crc >>> shift) & 0xf);
  buf[at++] = QUOTE;
  buf[at++] = BRACE;
  buf[at++] = 0x0a;
  return at - offset;
}

/** Decodes one line (without its newline; a trailing "\n" is tolerated). Never throws. */
export function decodeRecord(line: string | Uint8Array): DecodeResult {
  const bytes =
    typeof line === 'string'
      ? Buffer.from(line, 'utf8')
      : Buffer.from(line.buffer, line.byteOffset, line.byteLength);
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  return decodeRecordAt(bytes, 0, end);
}

const hexValue = (byte: number): number => {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
};

const fail = (reason: DecodeFailureReason, detail: string): DecodeResult => ({ ok: false, reason, detail });

/** Decodes the line in buf[start, end) (newline excluded). The journal's hot path: no copies but the string. */
export function decodeRecordAt(buf: Buffer, start: number, end: number): DecodeResult {
  const crcStart = end - CRC_SUFFIX_BYTES;
  if (crcStart <= start || buf[end - 1] !== BRACE || buf[end - 2] !== QUOTE) {
    return fail('bad-crc', 'no crc field at the end of the line');
  }
  for (let i = 0; i < CRC_FIELD_PREFIX.length; i++) {
    if (buf[crcStart + i] !== CRC_FIELD_PREFIX.charCodeAt(i))
      return fail('bad-crc', 'no crc field at the end of the line');
  }
  let stored = 0;
  for (let i = crcStart + CRC_FIELD_PREFIX.length; i < end - 2; i++) {
    const digit = hexValue(buf[i] ?? 0);
    if (digit < 0) return fail('bad-crc', 'crc field is not 8 lowercase hex digits');
    stored = stored * 16 + digit;
  }
  const computed = withClosingBrace(crc32(buf.subarray(start, crcStart)));
  if (computed !== stored)
    return fail('bad-crc', `crc mismatch: stored ${crcHex(stored)}, computed ${crcHex(computed)}`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', start, end));
  } catch (error) {
    return fail('bad-json', error instanceof Error ? error.message : String(error));
  }
  return toRecord(parsed);
}

/** The last `at` and `expiresAt` strings decoded (see shareTimes). */
let lastAt = '';
let lastExpiresAt = '';

/**
 * Consecutive records mostly carry the same times (every command of a millisecond shares its stamp),
 * and the state a replay builds keeps them (a level's updatedAt, a hold's expiresAt): a time equal to
 * the previous one is replaced by that same string, so a million levels do not keep a million copies.
 * Only the identity of equal strings changes, never a value.
 */
function shareTimes(event: Record<string, unknown>): void {
  const at = event['at'];
  if (typeof at === 'string') {
    if (at === lastAt) event['at'] = lastAt;
    else lastAt = at;
  }
  const expiresAt = event['expiresAt'];
  if (typeof expiresAt === 'string') {
    if (expiresAt === lastExpiresAt) event['expiresAt'] = lastExpiresAt;
    else lastExpiresAt = expiresAt;
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function toRecord(parsed: unknown): DecodeResult {
  if (!isPlainObject(parsed)) return fail('missing-fields', 'record is not a JSON object');
  const { seq, stream, version, at, events, meta } = parsed;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return fail('missing-fields', 'seq');
  if (typeof stream !== 'string' || stream.length === 0) return fail('missing-fields', 'stream');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    return fail('missing-fields', 'version');
  }
  if (typeof at !== 'string') return fail('missing-fields', 'at');
  if (!Array.isArray(events)) return fail('missing-fields', 'events');
  for (const event of events) {
    if (!isPlainObject(event) || typeof event.type !== 'string')
      return fail('missing-fields', 'events[].type');
  }
  if (meta !== undefined && !isPlainObject(meta)) return fail('missing-fields', 'meta');
  for (const event of events as Record<string, unknown>[]) shareTimes(event);
  // Built field by field so the crc field (and anything unknown) never leaks into the engine.
  const record: JournalRecord =
    meta === undefined
      ? { seq, stream, version, at, events: events as JournalRecord['events'] }
      : { seq, stream, version, at, events: events as JournalRecord['events'], meta };
  return { ok: true, record };
}
