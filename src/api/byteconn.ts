/**
 * A connection as bytes in and out, whoever carries them: a Deno socket, or a Node stream (the
 * plaintext side of node:tls, api/tls_accept.ts). The engines that are handed a connection after
 * acond has read from it (node:http2 in api/h2.ts, the bridge to Deno's engine in api/bridge.ts)
 * take this, so that one code path serves a socket and a TLS session alike.
 */
import { Duplex } from "node:stream";

/** What api/h2.ts and api/bridge.ts use of a connection (a Deno.Conn is one). */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/**
 * `conn` as a Node stream, `first` (bytes already read from it) first; `pass` may rewrite what
 * arrives (api/h2.ts drops the client's GOAWAY frames). Reads only as fast as the stream is read.
 */
export function duplexOf(
  conn: ByteConn,
  first: Uint8Array,
  pass: (b: Uint8Array) => Uint8Array = (b) => b.slice(),
): Duplex {
  let reading = false;
  const d: Duplex = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) return void d.push(null);
          const out = pass(buf.subarray(0, n));
          if (out.length && !d.push(out)) return void (reading = false);
        }
      })().catch((e) => d.destroy(e));
    },
    write(chunk: Uint8Array, _enc, cb) {
      (async () => {
        for (let at = 0; at < chunk.length;) at += await conn.write(chunk.subarray(at));
      })().then(() => cb(), cb);
    },
    final(cb) {
      conn.closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      try {
        conn.close();
      } catch { /* closed */ }
      cb(err);
    },
  });
  if (first.length) d.push(pass(first));
  return d;
}

/** A Node stream as a ByteConn (reads copy out of the stream's buffered chunks). */
export class StreamConn implements ByteConn {
  #chunk: Uint8Array | null = null;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(private readonly s: Duplex) {
    const wake = () => {
      const w = this.#wake;
      this.#wake = null;
      w?.();
    };
    s.on("readable", wake);
    s.on("end", () => (this.#ended = true, wake()));
    s.on("close", () => (this.#ended = true, wake()));
    s.on("error", (e: Error) => (this.#error = e, wake()));
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#chunk) {
        const n = Math.min(p.length, this.#chunk.length);
        p.set(this.#chunk.subarray(0, n));
        this.#chunk = n === this.#chunk.length ? null : this.#chunk.subarray(n);
        return n;
      }
      const c = this.s.read() as Uint8Array | null;
      if (c && c.length) {
        this.#chunk = c;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#ended || this.s.destroyed) return null;
      await new Promise<void>((ok) => (this.#wake = ok));
    }
  }

  write(p: Uint8Array): Promise<number> {
    if (this.s.destroyed || this.s.writableEnded) {
      return Promise.reject(new Error("the connection is closed"));
    }
    // Node keeps a reference until the bytes are out: callers reuse their buffers.
    const copy = p.slice();
    return new Promise((ok, fail) => {
      this.s.write(copy, (e) => (e ? fail(e) : ok(copy.length)));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((ok) => {
      if (this.s.writableEnded || this.s.destroyed) return ok();
      this.s.end(() => ok());
    });
  }

  close(): void {
    this.s.destroy();
  }
}
