/**
 * The strict reading of an HTTP/1.1 request head that acond answers itself (api/h1_put.ts: the
 * layer upload; api/h1_unary.ts: Connect unary calls). Only a plain, well-formed head is read:
 * the request line `<METHOD> <printable target> HTTP/1.1`, CRLF line ends, token header names,
 * printable values, no folded lines, at most one Content-Length, `Transfer-Encoding: chunked`
 * only, and never both, no Upgrade, no Expect but `100-continue`. Anything else is null, and the
 * caller hands the bytes to Deno's engine, which judges odd and hostile heads as it always has:
 * the strict parsing here never has to get an odd head right, only to refuse it. Pure.
 */

/** The most bytes a head may take here (Deno's engine gets longer ones, and refuses them). */
export const MAX_HEAD = 16 << 10;

export interface Head {
  /** Path and query, as sent. */
  target: string;
  headers: Headers;
  /** Content-Length, when sent. */
  length?: number;
  chunked: boolean;
  /** The sender waits for `100 Continue` before its body. */
  expectContinue: boolean;
  /** The Connection header's options, lower case (`close`, `keep-alive`, …). */
  connection: string[];
}

/** Reason phrases of the statuses acond's own answers carry (any other: "Status"). */
export const REASON: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const dec = new TextDecoder("latin1");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
const DIGITS = /^\d{1,16}$/;

/** Whether `first` (the bytes read so far) may begin a head `<method> /…`. */
export function mayBegin(first: Uint8Array, method: string): boolean {
  const p = `${method} /`;
  for (let i = 0; i < Math.min(first.length, p.length); i++) {
    if (first[i] !== p.charCodeAt(i)) return false;
  }
  return first.length > 0;
}

/**
 * Where the head in `buf` ends (after its blank line), or -1. A bare-LF blank line ends it too
 * (parseHead then refuses it, and Deno's engine judges it).
 */
export function headEnd(buf: Uint8Array): number {
  for (let i = 1; i < buf.length; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i - 1] === 10) return i + 1;
    if (i >= 3 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** The head (its bytes up to and including the blank line) of a `method` request, or null. */
export function parseHead(head: Uint8Array, method: string): Head | null {
  const lines = dec.decode(head).split("\r\n");
  if (lines.length < 3 || lines[lines.length - 1] !== "" || lines[lines.length - 2] !== "") {
    return null;
  }
  const first = lines[0];
  const sp = method.length;
  if (
    !first.startsWith(method) || first[sp] !== " " || !first.endsWith(" HTTP/1.1") ||
    first.length <= sp + 10
  ) return null;
  const target = first.slice(sp + 1, -9);
  if (!TARGET.test(target)) return null;
  const headers = new Headers();
  let length: number | undefined;
  let chunked = false;
  let expectContinue = false;
  const connection: string[] = [];
  for (let i = 1; i < lines.length - 2; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const name = line.slice(0, colon).toLowerCase();
    const raw = line.slice(colon + 1);
    // Printable or tab only: then trim() takes off exactly the optional spaces and tabs.
    if (!TOKEN.test(name) || !FIELD_VALUE.test(raw)) return null;
    const value = raw.trim();
    switch (name) {
      case "content-length":
        if (length !== undefined || !DIGITS.test(value)) return null;
        length = Number(value);
        if (!Number.isSafeInteger(length)) return null;
        break;
      case "transfer-encoding":
        if (chunked || value.toLowerCase() !== "chunked") return null;
        chunked = true;
        break;
      case "expect":
        if (value.toLowerCase() !== "100-continue") return null;
        expectContinue = true;
        break;
      case "upgrade":
        return null;
      case "connection":
        for (const o of value.split(",")) connection.push(o.trim().toLowerCase());
        break;
    }
    headers.append(name, value);
  }
  if (chunked && length !== undefined) return null;
  return { target, headers, length, chunked, expectContinue, connection };
}
