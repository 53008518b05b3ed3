/**
 * Crafts tar archives byte by byte, including entries real tar tools refuse to write (hostile
 * layers for tests). Real GNU tar and python3's tarfile are used by the integration tests; this is
 * for unit tests that need exact control over single fields.
 */
export interface CraftEntry {
  name: string;
  /** "0" file, "1" hardlink, "2" symlink, "3" chardev, "5" dir, "6" fifo, "x" pax, "L" GNU name */
  type?: string;
  data?: Uint8Array | string;
  mode?: number;
  linkname?: string;
  mtime?: number;
  /** Overrides the size field (a lie about the data length). */
  sizeField?: number;
  /** Corrupts the checksum. */
  badChecksum?: boolean;
  /** The raw bytes of the name field (e.g. invalid UTF-8), instead of `name`. */
  nameBytes?: Uint8Array;
  /** The raw 12 bytes of the size field (e.g. GNU base-256), instead of octal. */
  sizeBytes?: Uint8Array;
}

/** GNU base-256 for a 12-byte numeric field: two's complement, the high bit of byte 0 set. */
export function base256(v: bigint, len = 12): Uint8Array {
  const b = new Uint8Array(len);
  let x = BigInt.asUintN(len * 8, v);
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[0] |= 0x80;
  return b;
}

const enc = new TextEncoder();

function putString(b: Uint8Array, off: number, len: number, s: string): void {
  const bytes = enc.encode(s);
  if (bytes.length > len) throw new Error(`field too long: ${s}`);
  b.set(bytes, off);
}

function putOctal(b: Uint8Array, off: number, len: number, v: number): void {
  putString(b, off, len, v.toString(8).padStart(len - 1, "0"));
}

export function header(e: CraftEntry, size: number): Uint8Array {
  const b = new Uint8Array(512);
  if (e.nameBytes) b.set(e.nameBytes.subarray(0, 100), 0);
  else putString(b, 0, 100, e.name);
  putOctal(b, 100, 8, e.mode ?? 0o644);
  putOctal(b, 108, 8, 0);
  putOctal(b, 116, 8, 0);
  if (e.sizeBytes) b.set(e.sizeBytes, 124);
  else putOctal(b, 124, 12, e.sizeField ?? size);
  putOctal(b, 136, 12, e.mtime ?? 1700000000);
  b[156] = (e.type ?? "0").charCodeAt(0);
  putString(b, 157, 100, e.linkname ?? "");
  putString(b, 257, 6, "ustar");
  putString(b, 263, 2, "00");
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  putString(b, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  if (e.badChecksum) b[148] = "7".charCodeAt(0);
  return b;
}

export function paxRecords(records: Record<string, string>): Uint8Array {
  let out = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    const bodyLen = enc.encode(body).length; // the length counts bytes, not UTF-16 units
    let len = bodyLen + 1;
    while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
    out += `${len}${body}`;
  }
  return enc.encode(out);
}

/** Entries, then the end-of-archive marker (two zero blocks) unless `end` is false. */
export function craftTar(entries: CraftEntry[], end = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    parts.push(header(e, data.length));
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    parts.push(new Uint8Array(pad));
  }
  if (end) parts.push(new Uint8Array(1024));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
