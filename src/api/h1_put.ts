/**
 * The streamed layer upload (`PUT /acon.grpc.AconService/blobs/<id>`, api/blobstream.ts) served
 * straight from the socket on a plain HTTP/1.1 connection. Any other HTTP/1.1 request reaches
 * Deno's engine through api/bridge.ts, which copies every byte once more through JavaScript:
 * for a layer of hundreds of MiB that copy cost as much CPU as hashing it. Here the body is read
 * from the socket into the consumer's buffer (a byte stream), and the one answer is written back
 * before the connection closes.
 *
 * Only a plain, well-formed head takes this path (api/h1_head.ts): `PUT <prefix><upload id>`.
 * Anything else (parsePutHead's null) goes to Deno's engine with the bytes read so far, which
 * answers it as before: the strict HTTP parsing of odd and hostile heads stays in one place.
 */
import type { ByteConn } from "./byteconn.ts";
import { UPLOAD_ID } from "./wire.ts";
import { DIRECT_READ } from "../image/upload/body.ts";
import { headEnd, MAX_HEAD, mayBegin, parseHead, REASON } from "./h1_head.ts";

/** The most bytes a head may take here (Deno's engine gets longer ones, and refuses them). */
export const MAX_PUT_HEAD = MAX_HEAD;
/** After the answer, how long a sender still sending is read (and dropped) before the close. */
const LINGER_MS = 1000;

export interface PutHead {
  /** Path and query, as sent. */
  target: string;
  headers: Headers;
  /** The body's length (Content-Length), or "chunked". */
  framing: number | "chunked";
  /** The sender waits for `100 Continue` before its body. */
  expectContinue: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");
/** The most trailer lines after a chunked body (each at most 4 KiB). */
const MAX_TRAILERS = 32;

export { headEnd };

/** Whether `first` (what was read to tell the protocol) may begin a head for this path. */
export function mayBePut(first: Uint8Array): boolean {
  return mayBegin(first, "PUT");
}

/** The head (its bytes up to and including the blank line) when it is one for this path; pure. */
export function parsePutHead(head: Uint8Array, prefix: string): PutHead | null {
  const h = parseHead(head, "PUT");
  if (!h || !h.target.startsWith(prefix)) return null;
  // An upload id and perhaps a query (printable): nothing a URL parser would rewrite (dot
  // segments, escapes) into another route.
  if (!UPLOAD_ID.test(h.target.slice(prefix.length).split("?")[0])) return null;
  return {
    target: h.target,
    headers: h.headers,
    framing: h.chunked ? "chunked" : h.length ?? 0,
    expectContinue: h.expectContinue,
  };
}

/**
 * Reads from `conn` until the head is complete: the bytes read (`first` first) and where the head
 * ends in them (-1: no complete head within MAX_PUT_HEAD, or the connection ended first).
 */
export async function readPutHead(
  conn: ByteConn,
  first: Uint8Array,
): Promise<{ bytes: Uint8Array; end: number }> {
  const buf = new Uint8Array(MAX_PUT_HEAD);
  buf.set(first);
  let got = first.length;
  let end = headEnd(buf.subarray(0, got));
  while (end < 0 && got < buf.length) {
    const n = await conn.read(buf.subarray(got)).catch(() => null);
    if (n === null) break;
    const from = Math.max(0, got - 3); // a blank line may straddle two reads
    got += n;
    end = headEnd(buf.subarray(from, got));
    if (end >= 0) end += from;
  }
  return { bytes: buf.subarray(0, got), end };
}

/**
 * The request body, read from `conn` into the reader's own buffer (`rest`: body bytes that came
 * with the head). Errors when the sender breaks off or frames it wrongly. `idle` bounds each
 * wait for more: past it the stream errors with what `idle.error()` gives and `idle.onStall` runs.
 */
export function putBody(
  conn: ByteConn,
  rest: Uint8Array,
  head: PutHead,
  idle: { ms: number; onStall: () => void; error: () => Error },
): ReadableStream<Uint8Array> {
  let pending = rest;
  let continued = !head.expectContinue;
  let stalled = false;
  let waitingSince = 0;
  const timer = setInterval(() => {
    if (waitingSince !== 0 && Date.now() - waitingSince > idle.ms) {
      stalled = true;
      idle.onStall();
    }
  }, Math.max(10, idle.ms / 4));

  /** Up to dst.length bytes: what is pending first, else one read of the socket. */
  const fill = async (dst: Uint8Array): Promise<number> => {
    if (pending.length > 0) {
      const n = Math.min(pending.length, dst.length);
      dst.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    }
    if (!continued) {
      continued = true;
      await writeAll(conn, enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    waitingSince = Date.now();
    try {
      const n = await conn.read(dst);
      if (stalled) throw idle.error();
      if (n === null) throw new Error("the connection closed before the end of the body");
      return n;
    } finally {
      waitingSince = 0;
    }
  };
  const small = new Uint8Array(4096);
  /** One CRLF-ended line of the chunked framing (at most 4 KiB). */
  const line = async (): Promise<string> => {
    let s = "";
    for (;;) {
      const nl = pending.indexOf(10);
      if (nl >= 0) {
        s += dec.decode(pending.subarray(0, nl + 1));
        pending = pending.subarray(nl + 1);
        if (s.length > small.length) throw new Error("bad chunked framing: a line too long");
        if (!s.endsWith("\r\n")) throw new Error("bad chunked framing: a bare LF");
        return s.slice(0, -2);
      }
      s += dec.decode(pending);
      pending = new Uint8Array(0);
      if (s.length > small.length) throw new Error("bad chunked framing: a line too long");
      const n = await fill(small);
      pending = small.slice(0, n);
    }
  };

  let left = head.framing === "chunked" ? 0 : head.framing;
  let lastChunk = head.framing !== "chunked" && left === 0;
  let over = false;
  const stop = () => clearInterval(timer);
  /** Up to dst.length bytes of the body into `dst`; null at its end; throws when it broke off. */
  const readInto = async (dst: Uint8Array): Promise<number | null> => {
    if (over) return null;
    try {
      if (head.framing === "chunked" && left === 0 && !lastChunk) {
        const l = await line();
        const hex = l.split(";")[0].trim();
        if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) throw new Error(`bad chunk size "${hex}"`);
        left = parseInt(hex, 16);
        if (left === 0) {
          lastChunk = true;
          // Trailers: dropped, and only a few (they would otherwise keep the body going for ever).
          for (let n = 0; (await line()) !== ""; n++) {
            if (n >= MAX_TRAILERS) throw new Error("bad chunked framing: too many trailers");
          }
        }
      }
      if (lastChunk || left === 0) {
        over = true;
        stop();
        return null;
      }
      const n = await fill(dst.subarray(0, Math.min(dst.length, left)));
      left -= n;
      if (left === 0 && head.framing === "chunked" && (await line()) !== "") {
        throw new Error("bad chunked framing: no CRLF after a chunk");
      }
      if (left === 0 && head.framing !== "chunked") lastChunk = true;
      return n;
    } catch (e) {
      over = true;
      stop();
      throw e;
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    type: "bytes",
    autoAllocateChunkSize: 256 << 10,
    async pull(controller) {
      const c = controller as ReadableByteStreamController;
      try {
        const view = c.byobRequest!.view!;
        const n = await readInto(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        if (n === null) {
          c.close();
          c.byobRequest?.respond(0);
        } else c.byobRequest!.respond(n);
      } catch (e) {
        c.error(e);
      }
    },
    cancel() {
      over = true;
      stop();
    },
  });
  // The upload reads it straight into its batches (image/upload/body.ts).
  Object.defineProperty(stream, DIRECT_READ, { value: readInto });
  return stream;
}

async function writeAll(conn: ByteConn, b: Uint8Array): Promise<void> {
  for (let at = 0; at < b.length;) at += await conn.write(b.subarray(at));
}

/**
 * Writes `res` as the connection's one answer (`connection: close`), then lets a sender still
 * sending finish or for LINGER_MS (closing with unread bytes would reset the connection, and the
 * sender might never read the answer), then closes.
 */
export async function answerAndClose(conn: ByteConn, res: Response): Promise<void> {
  try {
    const body = new Uint8Array(await res.arrayBuffer());
    let head = `HTTP/1.1 ${res.status} ${REASON[res.status] ?? "Status"}\r\n`;
    for (const [k, v] of res.headers) {
      if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue;
      head += `${k}: ${v}\r\n`;
    }
    head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    const out = new Uint8Array(head.length + body.length);
    out.set(enc.encode(head));
    out.set(body, head.length);
    await writeAll(conn, out);
    await conn.closeWrite();
    const sink = new Uint8Array(64 << 10);
    const until = Date.now() + LINGER_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => timer = setTimeout(() => r(null), LINGER_MS));
    try {
      while (Date.now() < until && (await Promise.race([conn.read(sink), late])) !== null);
    } finally {
      clearTimeout(timer);
    }
  } catch {
    /* the client left: nothing to tell it */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
