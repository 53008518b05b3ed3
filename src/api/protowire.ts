/**
 * A protobuf wire-format reader that is fed a message piece by piece (a request body as it
 * arrives) and never holds more than a varint of it: the fields it is told about come out as
 * events, a length-delimited one as its length and then views of its bytes, so that a caller can
 * stream a large `bytes` field instead of buffering it (api/addblob_stream.ts). Every other field
 * is skipped (unknown fields, as protobuf parsers do, groups included). Pure: no I/O.
 *
 * What it accepts is a subset of what protobuf-es's fromBinary accepts, with the same values
 * (tests/unit/api/protowire_test.ts checks both with fast-check): tags as protobuf-es reads them
 * (a uint32 varint of at most 5 bytes, field number ≥ 1, wire type ≤ 5), uint32 varints of at most
 * 10 bytes whose low 32 bits are the value, lengths likewise. It is stricter where protobuf-es is
 * lax: a known field with another wire type than its own, an unknown varint longer than 10 bytes
 * and groups nested deeper than MAX_GROUP_DEPTH are refused (WireError).
 */

/** Wire types (protobuf encoding). */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const SGROUP = 3;
export const EGROUP = 4;
export const I32 = 5;

/** Unknown groups nested deeper than this are refused (protobuf-es allows about 100). */
export const MAX_GROUP_DEPTH = 32;

export type WireEvent =
  /** A varint field, its value as protobuf-es reads a uint32 (the low 32 bits). */
  | { kind: "varint"; field: number; value: number }
  /** A length-delimited field begins; `chunk` events with its bytes follow, then `end`. */
  | { kind: "begin"; field: number; length: number }
  /** Some bytes of the open length-delimited field: a view of the piece, valid until the next. */
  | { kind: "chunk"; field: number; bytes: Uint8Array }
  | { kind: "end"; field: number };

/** Malformed wire data (the client's error: invalid_argument). */
export class WireError extends Error {
  override name = "WireError";
}

const enum St {
  Tag,
  Varint,
  Length,
  Bytes,
  Skip,
}

/**
 * `fields`: field number → its wire type (VARINT or LEN), the fields reported; every other one is
 * skipped. Feed the message's bytes in order with feed(), then call finish().
 */
export class WireReader {
  #st = St.Tag;
  // The varint being read: its low 32 bits, its byte count, and its last byte.
  #lo = 0;
  #n = 0;
  #last = 0;
  #field = 0;
  /** Reporting the current varint or length-delimited field (else skipping it). */
  #known = false;
  /** Bytes left of the length-delimited field or of a fixed-size value being skipped. */
  #left = 0;
  #skipVarint = false;
  /** Field numbers of the open unknown groups, innermost last. */
  readonly #groups: number[] = [];
  #at = 0;

  constructor(private readonly fields: ReadonlyMap<number, number>) {}

  /** Bytes consumed so far. */
  get position(): number {
    return this.#at;
  }

  #fail(why: string): never {
    throw new WireError(`${why} at byte ${this.#at}`);
  }

  /** Adds one byte to the varint being read; true when it ends there. */
  #varintByte(b: number): boolean {
    if (this.#n < 5) this.#lo |= (b & 0x7f) << (7 * this.#n);
    this.#n++;
    this.#last = b;
    if ((b & 0x80) === 0) return true;
    if (this.#n >= 10) this.#fail("varint longer than 10 bytes");
    return false;
  }

  #varintDone(): number {
    const v = this.#lo >>> 0;
    this.#lo = 0;
    this.#n = 0;
    return v;
  }

  /** The events of the next piece of the message, in order (a generator: consume it whole). */
  *feed(piece: Uint8Array): Generator<WireEvent, void, undefined> {
    let i = 0;
    while (i < piece.length) {
      switch (this.#st) {
        case St.Tag:
        case St.Varint:
        case St.Length: {
          const b = piece[i++];
          this.#at++;
          const n = this.#n + 1;
          if (!this.#varintByte(b)) continue;
          if (this.#st === St.Tag) {
            if (n > 5 || (n === 5 && this.#last > 0x0f)) {
              this.#fail("illegal tag: varint overflows uint32");
            }
            yield* this.#tag(this.#varintDone());
          } else if (this.#st === St.Varint) {
            const value = this.#varintDone();
            this.#st = St.Tag;
            if (this.#known) yield { kind: "varint", field: this.#field, value };
          } else {
            this.#left = this.#varintDone();
            this.#st = St.Bytes;
            if (this.#known) yield { kind: "begin", field: this.#field, length: this.#left };
            if (this.#left === 0) yield* this.#endBytes();
          }
          break;
        }
        case St.Bytes: {
          const n = Math.min(this.#left, piece.length - i);
          const bytes = piece.subarray(i, i + n);
          i += n;
          this.#at += n;
          this.#left -= n;
          if (this.#known) yield { kind: "chunk", field: this.#field, bytes };
          if (this.#left === 0) yield* this.#endBytes();
          break;
        }
        case St.Skip: {
          if (this.#skipVarint) {
            const b = piece[i++];
            this.#at++;
            if (this.#varintByte(b)) {
              this.#varintDone();
              this.#st = St.Tag;
            }
          } else {
            const n = Math.min(this.#left, piece.length - i);
            i += n;
            this.#at += n;
            this.#left -= n;
            if (this.#left === 0) this.#st = St.Tag;
          }
          break;
        }
      }
    }
  }

  *#endBytes(): Generator<WireEvent, void, undefined> {
    this.#st = St.Tag;
    if (this.#known) yield { kind: "end", field: this.#field };
  }

  *#tag(tag: number): Generator<WireEvent, void, undefined> {
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0 || wt > 5) this.#fail(`illegal tag: field no ${field} wire type ${wt}`);
    this.#field = field;
    const want = this.#groups.length === 0 ? this.fields.get(field) : undefined;
    this.#known = want !== undefined;
    if (want !== undefined && want !== wt) {
      this.#fail(`field ${field} has wire type ${wt}, expected ${want}`);
    }
    switch (wt) {
      case VARINT:
        this.#st = this.#known ? St.Varint : St.Skip;
        this.#skipVarint = true;
        return;
      case LEN:
        this.#st = St.Length;
        return;
      case I64:
      case I32:
        this.#st = St.Skip;
        this.#skipVarint = false;
        this.#left = wt === I64 ? 8 : 4;
        return;
      case SGROUP:
        if (this.#groups.length >= MAX_GROUP_DEPTH) {
          this.#fail(`groups nested deeper than ${MAX_GROUP_DEPTH}`);
        }
        this.#groups.push(field);
        return;
      case EGROUP:
        if (this.#groups.length === 0) this.#fail(`end of group ${field} outside a group`);
        if (this.#groups.pop() !== field) this.#fail("invalid end group tag");
        return;
    }
    yield* [];
  }

  /** The message ended here: throws unless that is between two fields. */
  finish(): void {
    if (this.#st !== St.Tag || this.#n !== 0) this.#fail("message truncated inside a field");
    if (this.#groups.length > 0) this.#fail(`group ${this.#groups.at(-1)} not ended`);
  }
}
