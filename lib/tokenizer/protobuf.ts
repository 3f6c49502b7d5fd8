// A minimal protocol-buffers reader: enough wire format for SentencePiece's ModelProto.

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

export interface Field {
  number: number;
  wire: WireType;
  /** Varint (as a number; 64-bit values beyond 2^53 lose precision) or fixed32/64 bits. */
  value: number;
  /** A varint's low 32 bits as a signed integer (int32 fields write negatives as 10-byte varints). */
  int32: number;
  /** The payload of a length-delimited field. */
  bytes: Uint8Array;
}

/** The fields of one message, in order. Throws Error naming `source` on truncated or malformed input. */
export function* readFields(buf: Uint8Array, source: string): Generator<Field> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  let low = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    low = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error(`${source}: truncated varint at byte ${pos}`);
      const b = buf[pos++];
      result += (b & 0x7f) * scale;
      if (i < 5) low |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error(`${source}: varint longer than 10 bytes at byte ${pos}`);
  };
  const empty = new Uint8Array(0);
  while (pos < buf.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (number === 0) throw new Error(`${source}: field number 0 at byte ${pos}`);
    switch (wire) {
      case WireType.Varint:
        yield { number, wire, value: varint(), int32: low, bytes: empty };
        break;
      case WireType.Fixed64:
        if (pos + 8 > buf.length) throw new Error(`${source}: truncated fixed64 field ${number} at byte ${pos}`);
        yield { number, wire, value: view.getFloat64(pos, true), int32: 0, bytes: buf.subarray(pos, pos + 8) };
        pos += 8;
        break;
      case WireType.Bytes: {
        const length = varint();
        if (pos + length > buf.length) throw new Error(`${source}: field ${number} of ${length} bytes runs past the end (byte ${pos} of ${buf.length})`);
        yield { number, wire, value: length, int32: 0, bytes: buf.subarray(pos, pos + length) };
        pos += length;
        break;
      }
      case WireType.Fixed32:
        if (pos + 4 > buf.length) throw new Error(`${source}: truncated fixed32 field ${number} at byte ${pos}`);
        yield { number, wire, value: view.getFloat32(pos, true), int32: 0, bytes: buf.subarray(pos, pos + 4) };
        pos += 4;
        break;
      default:
        throw new Error(`${source}: unsupported wire type ${wire} (field ${number}) at byte ${pos}`);
    }
  }
}
