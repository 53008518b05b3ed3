/**
 * An HTTP/1.1 client on a raw connection, for tests that must choose every byte sent (pipelined
 * requests, odd heads, a body that stops) and see every byte answered: answers framed by
 * Content-Length, chunked (trailers dropped) or the close.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface RawAnswer {
  status: number;
  /** Header names lower case, in order. */
  headers: [string, string][];
  body: Uint8Array;
}

export class RawHttp {
  #buf = new Uint8Array(0);
  #ended = false;

  private constructor(readonly conn: Deno.Conn) {}

  static async unix(path: string): Promise<RawHttp> {
    return new RawHttp(await Deno.connect({ transport: "unix", path }));
  }

  async send(bytes: string | Uint8Array): Promise<void> {
    const b = typeof bytes === "string" ? enc.encode(bytes) : bytes;
    for (let at = 0; at < b.length;) at += await this.conn.write(b.subarray(at));
  }

  /** More bytes into the buffer; false at the end of the connection (or a reset). */
  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const chunk = new Uint8Array(64 << 10);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) {
      this.#ended = true;
      return false;
    }
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = b;
    return true;
  }

  async #line(): Promise<string | null> {
    for (;;) {
      const i = this.#buf.findIndex((x, j) => x === 10 && this.#buf[j - 1] === 13);
      if (i >= 0) {
        const s = dec.decode(this.#buf.subarray(0, i - 1));
        this.#buf = this.#buf.subarray(i + 1);
        return s;
      }
      if (!(await this.#more())) return null;
    }
  }

  async #bytes(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length < n) if (!(await this.#more())) return null;
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** The next answer (1xx skipped), or null when the connection ended before one was whole. */
  async answer(): Promise<RawAnswer | null> {
    for (;;) {
      const status = await this.#line();
      if (status === null) return null;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(status);
      if (!m) throw new Error(`not a status line: ${JSON.stringify(status)}`);
      const headers: [string, string][] = [];
      for (let l = await this.#line(); l !== ""; l = await this.#line()) {
        if (l === null) return null;
        const c = l.indexOf(":");
        headers.push([l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()]);
      }
      const code = Number(m[1]);
      if (code < 200) continue;
      const get = (k: string) => headers.find(([n]) => n === k)?.[1];
      let body: Uint8Array | null;
      if (get("transfer-encoding")?.toLowerCase() === "chunked") {
        const parts: Uint8Array[] = [];
        for (;;) {
          const size = parseInt((await this.#line()) ?? "", 16);
          if (!Number.isFinite(size)) return null;
          if (size === 0) {
            while ((await this.#line()) !== "") { /* trailers */ }
            break;
          }
          const p = await this.#bytes(size);
          if (p === null || (await this.#line()) !== "") return null;
          parts.push(p);
        }
        body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) (body.set(p, at), at += p.length);
      } else if (get("content-length") !== undefined) {
        body = await this.#bytes(Number(get("content-length")));
      } else {
        while (await this.#more()) { /* to the close */ }
        body = this.#buf;
        this.#buf = new Uint8Array(0);
      }
      return body === null ? null : { status: code, headers, body };
    }
  }

  /** Resolves true when the server closed the connection within `ms` (nothing more came). */
  async closedWithin(ms: number): Promise<boolean> {
    const timer = setTimeout(() => this.close(), ms);
    try {
      while (await this.#more()) { /* drained */ }
      return this.#buf.length === 0 && !this.#closedByUs;
    } finally {
      clearTimeout(timer);
    }
  }

  #closedByUs = false;
  close(): void {
    this.#closedByUs = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** A Connect unary POST as HTTP/1.1 bytes; `extra`: more header lines. */
export function post(path: string, body: string | Uint8Array, extra: string[] = []): Uint8Array {
  const b = typeof body === "string" ? enc.encode(body) : body;
  const head = [
    `POST ${path} HTTP/1.1`,
    "host: localhost",
    ...(extra.some((l) => /^content-type:/i.test(l)) ? [] : ["content-type: application/json"]),
    `content-length: ${b.length}`,
    ...extra,
  ].join("\r\n") + "\r\n\r\n";
  const out = new Uint8Array(head.length + b.length);
  out.set(enc.encode(head));
  out.set(b, head.length);
  return out;
}
