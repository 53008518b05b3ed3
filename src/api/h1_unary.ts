/**
 * Connect unary calls on a plain HTTP/1.1 connection (unix socket, vsock or TCP without TLS),
 * answered by acond itself. Deno's engine cannot take a socket whose first bytes were read (to
 * tell h2c apart), so every other HTTP/1.1 request is copied through api/bridge.ts into a private
 * pair and back: four more socket operations and two more wake-ups per request, which cost more
 * than the call itself (docs/api.md, "Measured"). Here a request is read into one buffer, handed
 * to the method's core (api/unary.ts: the fast path the engine's requests take too) and answered
 * with one write, keep-alive and pipelining included.
 *
 * Only what the core serves whole takes this path: a strict head (api/h1_head.ts) `POST <exact
 * unary route> HTTP/1.1` with no chunked body, no Expect, Connection options `close` and
 * `keep-alive` only, a Content-Length within the method's read limit, headers the core accepts,
 * and a body that parses. At the first request that is not all of that, the connection is handed
 * to Deno's engine (through the bridge) with that request's bytes and whatever followed them:
 * the engine answers it as it always did, and every later request on the connection. Nothing of
 * a request handed on has run.
 *
 * Bounds: the head is at most MAX_HEAD bytes, the connection's header deadline runs between
 * requests (api/conn.ts), a body or an answer may not stall longer than `idleMs` (the
 * connection is cut), and a cut closes the socket, which ends every wait here.
 */
import type { ByteConn } from "./byteconn.ts";
import type { Conn } from "./conn.ts";
import { headEnd, MAX_HEAD, mayBegin, parseHead, REASON } from "./h1_head.ts";
import { Deadline } from "./deadline.ts";
import { UNARY_PATH, type UnaryAnswer, type UnaryCore } from "./unary.ts";
import { log } from "../util/log.ts";

export interface H1UnaryOptions {
  /** The unary core of an exact route path, if it has one. */
  coreOf: (path: string) => UnaryCore | undefined;
  /** The longest pause in a body being read, or in an answer being written. */
  idleMs: number;
  /** Set by a graceful shutdown: no request is begun after it. */
  stopping: () => boolean;
}

/** Whether `first` (what was read to tell the protocol) may begin a request served here. */
export function mayBeUnary(first: Uint8Array): boolean {
  return mayBegin(first, "POST");
}

/** A buffer grown for one large body is let go once it is empty. */
const KEEP_BYTES = 64 << 10;
/** A body this large is not copied out of the connection's buffer: the buffer goes with it. */
const DETACH_BYTES = 64 << 10;
/** The buffer grows by at most this much beyond what has arrived. */
const READ_AHEAD = 1 << 20;

/** The connection's unread bytes. */
class Inbox {
  #buf = new Uint8Array(MAX_HEAD);
  #start = 0;
  #end = 0;

  constructor(first: Uint8Array) {
    this.#reserve(first.length);
    this.#buf.set(first);
    this.#end = first.length;
  }

  get length(): number {
    return this.#end - this.#start;
  }
  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }
  /** Everything unread, copied (for Deno's engine). */
  take(): Uint8Array {
    return this.#buf.slice(this.#start, this.#end);
  }
  /**
   * `n` bytes are read. `detach`: the buffer now belongs to a body handed out as a view of it
   * (a large one: not copied), so what follows moves to a new buffer and the old one is never
   * written again.
   */
  consume(n: number, detach = false): void {
    this.#start += n;
    if (detach) {
      const rest = this.view();
      const b = new Uint8Array(Math.max(MAX_HEAD, rest.length));
      b.set(rest);
      this.#buf = b;
      this.#start = 0;
      this.#end = rest.length;
    } else if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buf.length > KEEP_BYTES) this.#buf = new Uint8Array(MAX_HEAD);
    }
  }
  /** Room for `n` unread bytes in all. */
  #reserve(n: number): void {
    if (this.#start + n <= this.#buf.length) return;
    const len = this.length;
    if (n <= this.#buf.length) this.#buf.copyWithin(0, this.#start, this.#end);
    else {
      const b = new Uint8Array(Math.max(n, this.#buf.length * 2));
      b.set(this.view());
      this.#buf = b;
    }
    this.#start = 0;
    this.#end = len;
  }
  /** One read of `conn` (room for at least `want` unread bytes in all); false at its end. */
  async fill(conn: ByteConn, want: number): Promise<boolean> {
    this.#reserve(Math.max(want, this.length + 1));
    const n = await conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }
}

/** Why serving stopped: the connection is over, or the bytes to hand to Deno's engine. */
export type H1UnaryEnd = { closed: true } | { closed: false; rest: Uint8Array };

const CLOSED: H1UnaryEnd = { closed: true };

/**
 * Serves unary calls on `conn` from its first bytes `first` until the connection ends or a
 * request is not one for this path. `c`: the connection's bookkeeping (requests in flight, the
 * header deadline, the cut).
 */
export async function serveUnaryH1(
  conn: ByteConn,
  first: Uint8Array,
  c: Conn,
  o: H1UnaryOptions,
): Promise<H1UnaryEnd> {
  const inbox = new Inbox(first);
  /** Where answers are made: one buffer per connection, written out before the next is made. */
  const outbox = new Uint8Array(8 << 10);
  const stall = new Deadline(o.idleMs, () => c.cut());
  try {
    for (;;) {
      if (o.stopping() || c.signal.aborted) return CLOSED;
      let end = headEnd(inbox.view());
      while (end < 0) {
        if (inbox.length >= MAX_HEAD) return { closed: false, rest: inbox.take() };
        if (!(await inbox.fill(conn, 0).catch(() => false))) return CLOSED;
        if (inbox.length > 0 && !mayBeUnary(inbox.view())) {
          return { closed: false, rest: inbox.take() };
        }
        end = headEnd(inbox.view());
      }
      const head = parseHead(inbox.view().subarray(0, end), "POST");
      const core = head && plain(head) ? o.coreOf(head.target) : undefined;
      const limit = core?.accepts(head!.headers);
      const size = head?.length ?? 0;
      // accepts() held the Content-Length to the method's limit.
      if (!core || !limit) return { closed: false, rest: inbox.take() };
      c.requestStarted();
      try {
        while (inbox.length < end + size) {
          // Room for what comes, not for what is declared: a length costs the client nothing.
          const want = Math.min(end + size, inbox.length + READ_AHEAD);
          if (!(await stall.during(inbox.fill(conn, want)).catch(() => false))) return CLOSED;
        }
        // A parsed message may keep views of its body (bytes fields): a small body is copied, a
        // large one (a WriteBlob chunk) is handed out where it is and its buffer left to it.
        const big = size >= DETACH_BYTES;
        const body = big
          ? inbox.view().subarray(end, end + size) as Uint8Array<ArrayBuffer>
          : inbox.view().slice(end, end + size);
        let a: UnaryAnswer | null;
        try {
          // The connection's signal: it aborts at the cut (the client is gone). The call's context
          // listens to it until the call ends (connect-es unlinks then).
          a = await core.answer({
            headers: head!.headers,
            body,
            signal: c.signal,
            url: `http://localhost${head!.target}`,
          });
        } catch (e) {
          log.warn(`${head!.target}: ${e instanceof Error ? e.message : String(e)}`);
          a = { status: 500, headers: new Headers(), body: INTERNAL };
          head!.connection.push("close");
        }
        if (a === null) return { closed: false, rest: inbox.take() };
        const close = head!.connection.includes("close") || o.stopping();
        const sent = await stall.during(writeAll(conn, answerBytes(a, close, outbox))).then(
          () => true,
          () => false,
        );
        inbox.consume(end + size, big);
        if (!sent || close) return CLOSED;
      } finally {
        c.requestEnded();
      }
    }
  } finally {
    stall.stop();
  }
}

/** The head asks for nothing this path leaves to the engine. */
function plain(h: NonNullable<ReturnType<typeof parseHead>>): boolean {
  return !h.chunked && !h.expectContinue && UNARY_PATH.test(h.target) &&
    h.connection.every((t) => t === "close" || t === "keep-alive");
}

const INTERNAL = new TextEncoder().encode("internal error\n");

async function writeAll(conn: ByteConn, b: Uint8Array): Promise<void> {
  for (let at = 0; at < b.length;) at += await conn.write(b.subarray(at));
}

let dateSecond = 0;
let dateText = "";

/** The Date header's value (HTTP/1.1 wants one from a server with a clock), made once a second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The answer as HTTP/1.1 bytes (status line, its headers, the framing, the body), in `out` when
 * it fits (a connection's buffer, free again once the write is done), else in a new buffer.
 * Header text is written as Latin-1, byte for byte (what Headers holds are byte strings: a
 * character above U+00FF cannot be in one); a TextEncoder would cost an allocation and a call
 * into the runtime per answer.
 */
export function answerBytes(a: UnaryAnswer, close: boolean, out?: Uint8Array): Uint8Array {
  let head = `HTTP/1.1 ${a.status} ${REASON[a.status] ?? "Status"}\r\n`;
  // forEach: a sixth of the cost of the headers' iterator.
  a.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") {
      head += `${k}: ${v}\r\n`;
    }
  });
  head += `content-length: ${a.body.length}\r\ndate: ${httpDate()}\r\n`;
  if (close) head += "connection: close\r\n";
  head += "\r\n";
  const n = head.length + a.body.length;
  const b = out && out.length >= n ? out : new Uint8Array(n);
  for (let i = 0; i < head.length; i++) b[i] = head.charCodeAt(i);
  b.set(a.body, head.length);
  return b.subarray(0, n);
}
