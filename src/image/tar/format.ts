/**
 * The tar format, as pure functions: 512-byte ustar/GNU headers, numeric fields (octal and GNU
 * base-256), pax extended records, and the path rules a layer entry must satisfy. No I/O here;
 * extract.ts drives extraction with these.
 */
import { AcondError } from "../../errors.ts";

export const BLOCK = 512;
/** Limits that keep a hostile archive from making us buffer a lot for metadata. */
export const MAX_PAX_BYTES = 1 << 20;
export const MAX_LONGNAME_BYTES = 64 * 1024;
/** Below PATH_MAX (4096) so that the staging directory prefix always fits. */
export const MAX_PATH_BYTES = 3072;
export const MAX_COMPONENT_BYTES = 255;

/** A refused archive: InvalidArgument with a reason a client can act on. */
export class TarError extends AcondError {
  constructor(reason: string, entry?: string) {
    super(
      "invalid_argument",
      `Invalid layer archive: ${reason}${entry !== undefined ? ` (entry "${clip(entry)}")` : ""}`,
    );
  }
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

export type EntryKind =
  | "file"
  | "hardlink"
  | "symlink"
  | "chardev"
  | "blockdev"
  | "dir"
  | "fifo"
  | "pax"
  | "paxGlobal"
  | "gnuLongName"
  | "gnuLongLink"
  | "unsupported";

/** One header block, decoded but not yet combined with preceding pax/GNU long-name records. */
export interface RawHeader {
  name: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  kind: EntryKind;
  linkname: string;
}

/**
 * Names are decoded strictly: a lenient decoder turns every invalid byte into U+FFFD, so
 * "a\xff" and "a\xfe" would both become one file "a\uFFFD" and the extracted tree would differ
 * from the measured tar. Such names are refused.
 */
const dec = new TextDecoder("utf-8", { fatal: true });

/** Bytes as UTF-8 text; TarError when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array, what: string): string {
  try {
    return dec.decode(bytes);
  } catch {
    throw new TarError(`${what} is not valid UTF-8`);
  }
}

/** A NUL-terminated (or full-width) string field. */
function str(block: Uint8Array, off: number, len: number, what = "entry name"): string {
  let end = off;
  while (end < off + len && block[end] !== 0) end++;
  return utf8Text(block.subarray(off, end), what);
}

/**
 * A numeric field: octal digits (space/NUL padded), or GNU base-256 when the high bit of the first
 * byte is set (used for sizes ≥ 8 GiB and negative mtimes). Values beyond 2^53 are refused.
 */
export function parseNumeric(field: Uint8Array, what: string): number {
  if (field.length > 0 && (field[0] & 0x80) !== 0) {
    const negative = (field[0] & 0x40) !== 0;
    let v = 0n;
    for (let i = 0; i < field.length; i++) {
      const b = i === 0 ? field[0] & 0x7f : field[i];
      v = (v << 8n) | BigInt(b);
    }
    if (negative) v -= 1n << BigInt(field.length * 8 - 1);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TarError(`${what} out of range`);
    }
    return Number(v);
  }
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  let v = 0;
  for (; i < field.length; i++) {
    const c = field[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarError(`bad octal ${what}`);
    v = v * 8 + (c - 0x30);
  }
  for (; i < field.length; i++) {
    if (field[i] !== 0 && field[i] !== 0x20) throw new TarError(`bad octal ${what}`);
  }
  return v;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the byte sum with the checksum field counted as spaces (POSIX). */
export function headerChecksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

const KINDS: Record<string, EntryKind> = {
  "0": "file",
  "\0": "file",
  "7": "file", // contiguous file: a regular file everywhere that matters
  "1": "hardlink",
  "2": "symlink",
  "3": "chardev",
  "4": "blockdev",
  "5": "dir",
  "6": "fifo",
  x: "pax",
  g: "paxGlobal",
  L: "gnuLongName",
  K: "gnuLongLink",
};

export function parseHeader(block: Uint8Array): RawHeader {
  if (block.length !== BLOCK) throw new TarError("short header block");
  const stored = parseNumeric(block.subarray(148, 156), "checksum");
  if (stored !== headerChecksum(block)) throw new TarError("header checksum mismatch");
  // Base-256 can say negative; only an mtime may be (before 1970). A negative size would move
  // the reader backwards (or not at all) instead of over the data.
  const size = parseNumeric(block.subarray(124, 136), "size");
  if (size < 0) throw new TarError(`negative entry size ${size}`);
  const mode = parseNumeric(block.subarray(100, 108), "mode");
  if (mode < 0) throw new TarError(`negative mode ${mode}`);
  const typeflag = String.fromCharCode(block[156]);
  let name = str(block, 0, 100);
  // POSIX ustar ("ustar\0") has a 155-byte prefix; old GNU ("ustar  \0") uses those bytes for other
  // fields, so the prefix applies only to the POSIX magic.
  if (isPosixUstar(block) && block[345] !== 0) name = `${str(block, 345, 155)}/${name}`;
  return {
    name,
    mode,
    size,
    mtime: parseNumeric(block.subarray(136, 148), "mtime"),
    typeflag,
    kind: KINDS[typeflag] ?? "unsupported",
    linkname: block[157] === 0 ? "" : str(block, 157, 100, "link target"),
  };
}

/** "ustar\0" at offset 257 (POSIX); old GNU writes "ustar  \0" and has no prefix field. */
function isPosixUstar(b: Uint8Array): boolean {
  return b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 &&
    b[261] === 0x72 && b[262] === 0;
}

/** Pax extended header records: "<len> <key>=<value>\n", len counting the whole record. */
export function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding after the last record
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const lenText = utf8Text(data.subarray(pos, sp), "pax record");
    if (!/^[0-9]{1,8}$/.test(lenText)) throw new TarError("malformed pax record length");
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw new TarError("malformed pax record");
    }
    const rec = utf8Text(data.subarray(sp + 1, end - 1), "pax record");
    const eq = rec.indexOf("=");
    if (eq <= 0) throw new TarError("malformed pax record");
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos = end;
  }
  return out;
}

/** Decimal pax size ("size" key) with the same 2^53 bound as header fields. */
export function parsePaxSize(v: string): number {
  if (!/^[0-9]{1,16}$/.test(v)) throw new TarError("malformed pax size");
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new TarError("pax size out of range");
  return n;
}

export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

const enc = new TextEncoder();

/**
 * The normal form of an entry path inside the layer: relative, no `.`/empty components, and
 * refused when absolute, containing `..` or NUL, or too long. "" is the layer root itself.
 */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes("\0")) throw new TarError("path contains NUL", raw);
  if (raw.startsWith("/")) throw new TarError("absolute path", raw);
  const parts: string[] = [];
  for (const p of raw.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") throw new TarError("path contains '..'", raw);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: encode only names that might be too long.
    if (p.length * 3 > MAX_COMPONENT_BYTES && enc.encode(p).length > MAX_COMPONENT_BYTES) {
      throw new TarError("name too long", raw);
    }
    parts.push(p);
  }
  const path = parts.join("/");
  if (path.length * 3 > MAX_PATH_BYTES && enc.encode(path).length > MAX_PATH_BYTES) {
    throw new TarError("path too long", raw);
  }
  return path;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

/** OCI whiteout classification of a normalised path. */
export type Whiteout =
  | { kind: "none" }
  | { kind: "opaque"; dir: string }
  | { kind: "whiteout"; target: string };

export function classifyWhiteout(path: string): Whiteout {
  const base = baseName(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "none" };
  const dir = parentOf(path);
  if (base === OPAQUE_MARKER) return { kind: "opaque", dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
    throw new TarError("unsupported aufs metadata entry", path);
  }
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === "" || name === "." || name === "..") throw new TarError("bad whiteout name", path);
  return { kind: "whiteout", target: dir ? `${dir}/${name}` : name };
}

/** Permission bits kept on extraction: rwx only; setuid, setgid and sticky are dropped. */
export function safeMode(mode: number): number {
  return mode & 0o777;
}
