/**
 * One HTTP/1.1 PUT written straight to a connection: the streamed layer upload (./images.ts,
 * docs/layers.md). fetch() with a streamed request body costs the client more CPU than the daemon
 * spends hashing the layer (measured: 1.0 s for 768 MiB through 64 KiB chunks, 5.8 s through
 * 1 MiB ones); a plain socket written in 1 MiB pieces costs about 0.4 s (4 MiB ones: less). The
 * request is one head with a Content-Length and the body; the answer is read while the body is
 * still going out (a refusal can come early, and then the rest is not sent).
 */

/**
 * The body is sent in pieces of at most this many bytes: each piece is one file read and one
 * socket write, and a Deno socket write costs far more than its bytes (4 MiB pieces: about 12 %
 * less client CPU than 1 MiB ones for the 268 MiB bench layer: 0.14–0.17 s against 0.17–0.21 s).
 */
export const PUT_PIECE = 4 << 20;
/** The longest answer head and body read. */
const MAX_ANSWER_HEAD = 64 << 10;
const MAX_ANSWER_BODY = 1 << 20;

export interface PutRequest {
  /** The request target (path and query). */
  target: string;
  /** The Host header. */
  host: string;
  headers: Record<string, string>;
  /** The body's length (sent as Content-Length). */
  length: number;
  /** Fills `buf` with the next bytes of the body; 0 when there are none (before `length`: an error). */
  next(buf: Uint8Array): Promise<number>;
  /** Largest piece (PUT_PIECE when not given). */
  piece?: number;
}

export interface PutAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Why a PUT got no answer (the connection broke, or the answer was not HTTP). */
export class PutTransportError extends Error {}

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** Sends `req` on `conn` and reads the answer; closes `conn` before it returns or throws. */
export async function putRaw(conn: Deno.Conn, req: PutRequest): Promise<PutAnswer> {
  const answer = readAnswer(conn);
  // Settled: the daemon answered (or the connection ended), so the rest of the body is not wanted.
  let answered = false;
  const over = answer.then(() => answered = true, () => answered = true);
  try {
    let head = `PUT ${req.target} HTTP/1.1\r\nhost: ${req.host}\r\n`;
    for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
    head += `content-length: ${req.length}\r\n\r\n`;
    const sent = sendAll(conn, enc.encode(head), () => answered).then(async (ok) => {
      const buf = new Uint8Array(Math.min(req.piece ?? PUT_PIECE, Math.max(1, req.length)));
      for (let left = req.length; ok && left > 0 && !answered;) {
        const n = await req.next(buf.subarray(0, Math.min(left, buf.length)));
        if (n === 0) throw new PutTransportError(`the body ended ${left} bytes short`);
        ok = await sendAll(conn, buf.subarray(0, n), () => answered);
        left -= n;
      }
    });
    sent.catch(() => {}); // seen by the race below, or moot once answered
    // Whichever comes first: the whole body out, or the answer (which ends the sending).
    await Promise.race([sent, over]);
    return await answer;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Writes all of `b`; false when the connection failed (the answer says why) or `stop()`. */
async function sendAll(conn: Deno.Conn, b: Uint8Array, stop: () => boolean): Promise<boolean> {
  try {
    for (let at = 0; at < b.length && !stop();) at += await conn.write(b.subarray(at));
    return true;
  } catch {
    return false;
  }
}

/** A connection read through a buffer. */
class Incoming {
  #buf = new Uint8Array(16 << 10);
  #start = 0;
  #end = 0;
  constructor(private readonly conn: Deno.Conn) {}

  get buffered(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  consume(n: number): void {
    this.#start += n;
  }

  /** Reads more; false at the end of the connection. */
  async more(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.#buf.subarray(this.#end));
    } catch (e) {
      throw new PutTransportError(`the connection broke: ${(e as Error).message}`);
    }
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** The next CRLF-ended line (without it), within `max` bytes. */
  async line(max: number): Promise<string> {
    for (;;) {
      const b = this.buffered;
      const nl = b.indexOf(10);
      if (nl >= 0) {
        this.consume(nl + 1);
        return latin1.decode(b.subarray(0, nl > 0 && b[nl - 1] === 13 ? nl - 1 : nl));
      }
      if (b.length > max) throw new PutTransportError("an answer line too long");
      if (!(await this.more())) throw new PutTransportError("the connection closed mid-answer");
    }
  }

  /** Exactly `n` bytes. */
  async take(n: number): Promise<Uint8Array> {
    while (this.buffered.length < n) {
      if (!(await this.more())) throw new PutTransportError("the connection closed mid-answer");
    }
    const out = this.buffered.slice(0, n);
    this.consume(n);
    return out;
  }
}

/** The first final answer on `conn` (1xx ones skipped). */
async function readAnswer(conn: Deno.Conn): Promise<PutAnswer> {
  const inc = new Incoming(conn);
  if (!(await inc.more())) {
    throw new PutTransportError("the connection closed before an answer");
  }
  for (;;) {
    const statusLine = await inc.line(MAX_ANSWER_HEAD);
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!m) throw new PutTransportError(`not an HTTP answer: "${statusLine.slice(0, 80)}"`);
    const status = Number(m[1]);
    const headers = new Headers();
    for (let size = 0;;) {
      const l = await inc.line(MAX_ANSWER_HEAD);
      if (l === "") break;
      size += l.length;
      if (size > MAX_ANSWER_HEAD) throw new PutTransportError("an answer head too long");
      const colon = l.indexOf(":");
      if (colon <= 0) throw new PutTransportError(`a bad answer header: "${l.slice(0, 80)}"`);
      try {
        headers.append(l.slice(0, colon).trim(), l.slice(colon + 1).trim());
      } catch {
        throw new PutTransportError(`a bad answer header: "${l.slice(0, 80)}"`);
      }
    }
    if (status < 200) continue; // 100 Continue and the like
    return { status, headers, body: await answerBody(inc, headers) };
  }
}

async function answerBody(inc: Incoming, headers: Headers): Promise<Uint8Array> {
  if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const size = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec((await inc.line(1024)).trim());
      if (!size) throw new PutTransportError("a bad chunk in the answer");
      const n = parseInt(size[1], 16);
      if (n === 0) break;
      if ((total += n) > MAX_ANSWER_BODY) throw new PutTransportError("an answer too long");
      parts.push(await inc.take(n));
      await inc.line(2);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) out.set(p, (at += p.length) - p.length);
    return out;
  }
  const declared = headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (!/^\d+$/.test(declared) || n > MAX_ANSWER_BODY) {
      throw new PutTransportError(`a bad answer length "${declared}"`);
    }
    return await inc.take(n);
  }
  while (await inc.more()) {
    if (inc.buffered.length > MAX_ANSWER_BODY) throw new PutTransportError("an answer too long");
  }
  return inc.buffered.slice();
}
