/**
 * A strict multipart/form-data parser (RFC 7578 over RFC 2046) for the REST API's bodies, which
 * are read whole and bounded before they get here (./body.ts). Strict where the runtime's
 * `formData()` is lenient: a body without its closing delimiter (cut short), a part without a
 * `Content-Disposition: form-data; name="…"`, a header block that does not end, too many parts
 * or headers: each is an error that says what is wrong, never a silently dropped part. Pure.
 */

/** One part: its field name, its file name if it was sent as a file, its bytes. */
export interface Part {
  name: string;
  filename?: string;
  data: Uint8Array;
}

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

/** At most this many parts in one body. */
export const MAX_PARTS = 64;
/** At most this many header lines per part, and bytes per header block. */
export const MAX_PART_HEADERS = 16;
export const MAX_HEADER_BLOCK = 8192;

const enc = new TextEncoder();
const CRLF = enc.encode("\r\n");
const CRLFCRLF = enc.encode("\r\n\r\n");

/** The boundary named by a Content-Type header, or why there is none. */
export function boundaryOf(contentType: string | null): string {
  if (contentType === null) {
    throw new MultipartError("no Content-Type: send multipart/form-data with a boundary");
  }
  const [type, ...params] = contentType.split(";");
  if (type.trim().toLowerCase() !== "multipart/form-data") {
    throw new MultipartError(
      `Content-Type is ${type.trim() || "empty"}: send multipart/form-data with a boundary`,
    );
  }
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== "boundary") continue;
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    // RFC 2046 bchars, 1..70 characters, not ending in a space.
    if (!/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(v)) {
      throw new MultipartError(`bad multipart boundary "${v.slice(0, 80)}"`);
    }
    return v;
  }
  throw new MultipartError("multipart/form-data without a boundary parameter");
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function startsWith(hay: Uint8Array, at: number, needle: Uint8Array): boolean {
  if (at + needle.length > hay.length) return false;
  for (let j = 0; j < needle.length; j++) if (hay[at + j] !== needle[j]) return false;
  return true;
}

/** A parameter of a Content-Disposition value (quoted-string with backslash escapes, or token). */
function dispositionParam(value: string, name: string): string | undefined {
  const re = /;\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (const m of value.matchAll(re)) {
    if (m[1].toLowerCase() === name) {
      return m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3];
    }
  }
  return undefined;
}

function partHeaders(block: string, index: number): { name: string; filename?: string } {
  const lines = block.split("\r\n");
  if (lines.length > MAX_PART_HEADERS) {
    throw new MultipartError(`part ${index}: more than ${MAX_PART_HEADERS} header lines`);
  }
  let disposition: string | undefined;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new MultipartError(`part ${index}: bad header line "${line.slice(0, 80)}"`);
    }
    if (line.slice(0, colon).trim().toLowerCase() === "content-disposition") {
      if (disposition !== undefined) {
        throw new MultipartError(`part ${index}: two Content-Disposition headers`);
      }
      disposition = line.slice(colon + 1).trim();
    }
  }
  if (disposition === undefined) {
    throw new MultipartError(`part ${index}: no Content-Disposition header`);
  }
  if (disposition.split(";")[0].trim().toLowerCase() !== "form-data") {
    throw new MultipartError(`part ${index}: Content-Disposition is not form-data`);
  }
  const name = dispositionParam(disposition, "name");
  if (name === undefined) {
    throw new MultipartError(`part ${index}: Content-Disposition has no name`);
  }
  const filename = dispositionParam(disposition, "filename");
  return filename === undefined ? { name } : { name, filename };
}

/**
 * The parts of `body`, in order. The body must start with the first delimiter (no preamble) and
 * end with the closing one (anything after it, the epilogue, is ignored).
 */
export function parseMultipart(body: Uint8Array, boundary: string): Part[] {
  const dash = enc.encode(`--${boundary}`);
  const delimiter = enc.encode(`\r\n--${boundary}`);
  if (!startsWith(body, 0, dash)) {
    throw new MultipartError("body does not start with the multipart boundary");
  }
  const parts: Part[] = [];
  let at = dash.length;
  for (;;) {
    // After a delimiter: "--" closes the body, CRLF starts a part.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts;
    if (!startsWith(body, at, CRLF)) {
      throw new MultipartError(
        at >= body.length
          ? "body cut short: no closing boundary"
          : "bad multipart delimiter line (expected CRLF or -- after the boundary)",
      );
    }
    at += 2;
    if (parts.length === MAX_PARTS) throw new MultipartError(`more than ${MAX_PARTS} parts`);
    const index = parts.length;
    const end = indexOf(body.subarray(0, at + MAX_HEADER_BLOCK + 4), CRLFCRLF, at);
    if (end < 0) {
      throw new MultipartError(
        body.length - at > MAX_HEADER_BLOCK
          ? `part ${index}: headers longer than ${MAX_HEADER_BLOCK} bytes`
          : `part ${index}: body cut short in the part's headers`,
      );
    }
    const head = partHeaders(new TextDecoder().decode(body.subarray(at, end)), index);
    const dataStart = end + 4;
    const next = indexOf(body, delimiter, dataStart);
    if (next < 0) throw new MultipartError(`part ${index}: body cut short: no closing boundary`);
    parts.push({ ...head, data: body.subarray(dataStart, next) });
    at = next + delimiter.length;
  }
}
