/**
 * The entries of an archive: headers combined with their pax and GNU long-name records, sizes
 * bounded by what is left, data read or skipped; the byte source is ./reader.ts, the header
 * format ./format.ts. Used by ./extract.ts.
 */
import {
  BLOCK,
  type EntryKind,
  isZeroBlock,
  MAX_LONGNAME_BYTES,
  MAX_PAX_BYTES,
  normalizeEntryPath,
  padded,
  parseHeader,
  parsePax,
  parsePaxSize,
  type RawHeader,
  TarError,
  utf8Text,
} from "./format.ts";
import { type TarReader, yieldToLoop } from "./reader.ts";

/**
 * Extraction gives the event loop a turn every YIELD_EVERY bytes, so that other requests (and the
 * next chunk of an upload) are received while a layer is being extracted.
 */
const YIELD_EVERY = 1 << 20;

/** What pax and GNU long-name records say about the next entry. */
interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

/** One entry, combined with its pending records. */
export interface Entry {
  header: RawHeader;
  /** The path as the archive spells it (for messages). */
  rawPath: string;
  /** Its normal form (format.ts normalizeEntryPath). */
  path: string;
  linkname: string;
  size: number;
}

function isMeta(kind: EntryKind): boolean {
  return kind === "pax" || kind === "paxGlobal" || kind === "gnuLongName" ||
    kind === "gnuLongLink";
}

/** The entries of an archive, in order; the caller consumes each entry's data (skip, read). */
export class EntryReader {
  #pending: Pending = {};
  #count = 0;
  #nextYield = YIELD_EVERY;

  /** `totalSize`, when known, lets a giant size field be refused before reading. */
  constructor(private readonly reader: TarReader, private readonly totalSize?: number) {}

  /** Entries returned so far. */
  get count(): number {
    return this.#count;
  }
  get position(): number {
    return this.reader.position;
  }
  /** The largest entry read() takes in one view. */
  get maxTake(): number {
    return this.reader.maxTake;
  }

  /** The next entry, or null after the end-of-archive marker (the rest of the input is drained). */
  async next(): Promise<Entry | null> {
    for (;;) {
      const h = await this.#nextHeader();
      if (h === null) {
        await this.reader.drain();
        return null;
      }
      const size = this.#dataSize(h);
      if (!isMeta(h.kind)) return this.#takeEntry(h, size);
      await this.#meta(h, size);
    }
  }

  /** Exactly n bytes (n ≤ maxTake). */
  async read(n: number, what: string): Promise<Uint8Array> {
    const v = await this.reader.take(n);
    if (v.length < n) throw new TarError(`truncated archive (in ${what})`);
    return v;
  }

  /** Between 1 and n bytes of entry data. */
  async readPiece(n: number, entry: Entry): Promise<Uint8Array> {
    const v = await this.reader.takeUpTo(n);
    if (v.length === 0) throw new TarError("truncated archive (in file data)", entry.rawPath);
    return v;
  }

  /** Skips n bytes of entry data (and lets the event loop in every YIELD_EVERY bytes). */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const v = await this.reader.takeUpTo(n);
      if (v.length === 0) throw new TarError("truncated archive (in entry data)");
      n -= v.length;
    }
    if (this.reader.position >= this.#nextYield) {
      this.#nextYield = this.reader.position + YIELD_EVERY;
      await yieldToLoop();
    }
  }

  /** The next header, or null at the end-of-archive marker. */
  async #nextHeader(): Promise<RawHeader | null> {
    const block = await this.reader.take(BLOCK);
    if (block.length === 0) throw new TarError("truncated archive (no end-of-archive marker)");
    if (block.length < BLOCK) throw new TarError("truncated archive (in header)");
    if (isZeroBlock(block)) {
      if (this.#pending.path !== undefined || this.#pending.linkpath !== undefined) {
        throw new TarError("extended header without an entry");
      }
      return null;
    }
    return parseHeader(block);
  }

  /** The data size of this header's entry (a pax size applies to the entry, not to metadata). */
  #dataSize(h: RawHeader): number {
    const size = isMeta(h.kind) || this.#pending.size === undefined ? h.size : this.#pending.size;
    const left = this.totalSize === undefined ? undefined : this.totalSize - this.reader.position;
    if (left !== undefined && size > left) {
      throw new TarError(
        `truncated archive: entry size ${size} exceeds the remaining ${left} bytes`,
        this.#pending.path ?? h.name,
      );
    }
    return size;
  }

  async #readMeta(h: RawHeader, size: number, limit: number): Promise<Uint8Array> {
    if (size > limit) throw new TarError(`${h.kind} header too large (${size} bytes)`);
    return (await this.read(padded(size), "extended header")).slice(0, size);
  }

  /** A pax or GNU long-name record: remembered for the next entry. */
  async #meta(h: RawHeader, size: number): Promise<void> {
    switch (h.kind) {
      case "pax": {
        const rec = parsePax(await this.#readMeta(h, size, MAX_PAX_BYTES));
        const p = rec.get("path");
        if (p !== undefined) this.#pending.path = p;
        const l = rec.get("linkpath");
        if (l !== undefined) this.#pending.linkpath = l;
        const s = rec.get("size");
        if (s !== undefined) this.#pending.size = parsePaxSize(s);
        return;
      }
      case "paxGlobal":
        // Global records (GNU tar's archive-wide defaults) carry nothing we apply.
        await this.#readMeta(h, size, MAX_PAX_BYTES);
        return;
      default: { // gnuLongName, gnuLongLink
        const raw = await this.#readMeta(h, size, MAX_LONGNAME_BYTES);
        let end = raw.indexOf(0);
        if (end < 0) end = raw.length;
        const text = utf8Text(raw.subarray(0, end), "GNU long name");
        if (h.kind === "gnuLongName") this.#pending.path = text;
        else this.#pending.linkpath = text;
      }
    }
  }

  #takeEntry(header: RawHeader, size: number): Entry {
    const rawPath = this.#pending.path ?? header.name;
    const linkname = this.#pending.linkpath ?? header.linkname;
    this.#pending = {};
    this.#count++;
    return { header, rawPath, path: normalizeEntryPath(rawPath), linkname, size };
  }
}
