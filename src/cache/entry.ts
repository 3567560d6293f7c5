import { SluiceError } from '../shared/errors.js';

/**
 * A cache entry as the L2/L3 stores hold it: the serialized value and its metadata.
 * Times are milliseconds since the epoch; `Infinity` means "never".
 */
export interface StoredEntry {
  /** The serialized value. */
  value: Uint8Array;
  /** When the value was produced; tag invalidations after this time make it unreachable. */
  createdAt: number;
  /** Fresh until this time. */
  expiresAt: number;
  /** Servable as stale (grace) until this time; equals `expiresAt` without grace. Stores may drop the entry after it. */
  staleUntil: number;
  /** Tags, including the implicit tags of the entry's namespaces. */
  tags: readonly string[];
}

const FORMAT_VERSION = 1;
/** version u8, createdAt f64, expiresAt f64, staleUntil f64, tags length u32. */
const HEADER_BYTES = 1 + 8 + 8 + 8 + 4;
/** Byte offset of `createdAt` in an encoded entry (read by the Redis conditional delete). */
export const CREATED_AT_OFFSET = 1;

const NO_TAGS = Buffer.alloc(0);

/** Encodes an entry into one contiguous buffer (one Redis string, one SQLite blob). */
export function encodeEntry(entry: StoredEntry): Buffer {
  const tags = entry.tags.length === 0 ? NO_TAGS : Buffer.from(JSON.stringify(entry.tags));
  const out = Buffer.allocUnsafe(HEADER_BYTES + tags.length + entry.value.byteLength);
  out.writeUInt8(FORMAT_VERSION, 0);
  out.writeDoubleBE(entry.createdAt, 1);
  out.writeDoubleBE(entry.expiresAt, 9);
  out.writeDoubleBE(entry.staleUntil, 17);
  out.writeUInt32BE(tags.length, 25);
  tags.copy(out, HEADER_BYTES);
  out.set(entry.value, HEADER_BYTES + tags.length);
  return out;
}

export function decodeEntry(buffer: Buffer): StoredEntry {
  if (buffer.length < HEADER_BYTES || buffer.readUInt8(0) !== FORMAT_VERSION) {
    throw new SluiceError('E_ENTRY_FORMAT', 'stored entry has an unknown format or is truncated');
  }
  const tagsLength = buffer.readUInt32BE(25);
  const tagsEnd = HEADER_BYTES + tagsLength;
  if (tagsEnd > buffer.length) {
    throw new SluiceError('E_ENTRY_FORMAT', 'stored entry is truncated');
  }
  const tags =
    tagsLength === 0
      ? []
      : (JSON.parse(buffer.toString('utf8', HEADER_BYTES, tagsEnd)) as string[]);
  return {
    createdAt: buffer.readDoubleBE(1),
    expiresAt: buffer.readDoubleBE(9),
    staleUntil: buffer.readDoubleBE(17),
    tags,
    value: buffer.subarray(tagsEnd),
  };
}
