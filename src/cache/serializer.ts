import { SluiceError } from '../shared/errors.js';

/**
 * Turns cached values into bytes for the L2/L3 stores and the L1 byte bound.
 * The default handles anything JSON can, plus `Uint8Array`/`Buffer` at any depth.
 */
export interface Serializer {
  serialize(value: unknown): Uint8Array;
  deserialize(bytes: Uint8Array): unknown;
}

const JSON_TAG = 0x6a; // 'j'
const BYTES_TAG = 0x62; // 'b'
const BYTES_MARKER = '$sluice:bytes';

function replacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify has already called Buffer#toJSON by the time the replacer sees `value`,
  // so read the raw property from the holder to see the Buffer itself.
  const raw = key === '' ? value : (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) {
    return {
      [BYTES_MARKER]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'),
    };
  }
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && BYTES_MARKER in value) {
    const encoded = (value as Record<string, unknown>)[BYTES_MARKER];
    if (typeof encoded === 'string') return Buffer.from(encoded, 'base64');
  }
  return value;
}

function containsBytes(text: string): boolean {
  return text.includes(BYTES_MARKER);
}

/**
 * JSON with binary support. A top-level `Uint8Array` is stored raw (no base64);
 * nested binary values are base64 inside the JSON. `undefined` cannot be stored.
 */
export const jsonSerializer: Serializer = {
  serialize(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) {
      const out = Buffer.allocUnsafe(value.byteLength + 1);
      out[0] = BYTES_TAG;
      out.set(value, 1);
      return out;
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(value, replacer);
    } catch (error) {
      throw new SluiceError(
        'E_SERIALIZE',
        `value cannot be serialized: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (text === undefined) {
      throw new SluiceError('E_SERIALIZE', `value of type ${typeof value} cannot be cached`);
    }
    const length = Buffer.byteLength(text);
    const out = Buffer.allocUnsafe(length + 1);
    out[0] = JSON_TAG;
    out.write(text, 1, 'utf8');
    return out;
  },

  deserialize(bytes: Uint8Array): unknown {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tag = buffer[0];
    if (tag === BYTES_TAG) return Buffer.from(buffer.subarray(1));
    if (tag !== JSON_TAG) {
      throw new SluiceError('E_DESERIALIZE', `unknown value encoding 0x${(tag ?? 0).toString(16)}`);
    }
    const text = buffer.toString('utf8', 1);
    return containsBytes(text) ? JSON.parse(text, reviver) : JSON.parse(text);
  },
};
