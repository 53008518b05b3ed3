/**
 * Hands a connection whose first bytes were already read (to tell HTTP/2 from HTTP/1.1,
 * api/conn_limits.ts) to Deno's own engine, which can only serve a socket it reads itself: the
 * connection is spliced to one end of a private Unix socket pair, whose other end Deno's engine
 * serves. The pair comes from a listener in a fresh 0700 directory (only this process connects
 * to it; connect and accept are paired one at a time). Each spliced connection holds two more
 * descriptors (`FDS_PER_BRIDGE`) and one more copy of its bytes, made in 64 KiB reads, or 1 MiB
 * ones (BigBuffers) once a read fills the small buffer.
 */
import { log } from "../util/log.ts";
import type { ByteConn } from "./byteconn.ts";

/** Descriptors a bridged connection holds besides its own. */
export const FDS_PER_BRIDGE = 2;

export class Bridge {
  /** The big copy buffers of this bridge's splices. */
  readonly big = new BigBuffers();
  #listener: Deno.UnixListener | undefined;
  #dir: string | undefined;
  #turn: Promise<unknown> = Promise.resolve();

  #open(): Deno.UnixListener {
    if (this.#listener) return this.#listener;
    const dir = Deno.makeTempDirSync({ prefix: "acond-bridge-" });
    Deno.chmodSync(dir, 0o700);
    this.#dir = dir;
    this.#listener = Deno.listen({ transport: "unix", path: `${dir}/s` });
    return this.#listener;
  }

  /** A connected pair: `outer` (ours, spliced to the client) and `inner` (for Deno's engine). */
  pair(): Promise<{ outer: Deno.UnixConn; inner: Deno.UnixConn }> {
    const next = this.#turn.then(async () => {
      const l = this.#open();
      const accepted = l.accept();
      let outer: Deno.UnixConn;
      try {
        outer = await Deno.connect({ transport: "unix", path: `${this.#dir}/s` });
      } catch (e) {
        accepted.then((c) => c.close(), () => {});
        throw e;
      }
      return { outer, inner: await accepted };
    });
    this.#turn = next.catch(() => {});
    return next;
  }

  close(): void {
    try {
      this.#listener?.close();
    } catch { /* closed */ }
    if (this.#dir) Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    this.#listener = undefined;
  }
}

/** A copy starts with a buffer this big; one that fills it moves to a big one (BigBuffers). */
const SMALL_COPY = 64 << 10;
const BIG_COPY = 1 << 20;

/**
 * A few 1 MiB copy buffers shared by all bridged connections: a large body (a layer streamed as
 * one PUT) is copied in a sixteenth of the reads and writes a 64 KiB buffer takes, each of which
 * costs far more than its bytes. Bounded, so that many connections streaming at once hold at
 * most `count` of them (the others copy through their own small buffer).
 */
export class BigBuffers {
  #free: Uint8Array<ArrayBuffer>[] = [];
  #made = 0;
  constructor(readonly count = 4) {}

  /** Buffers made so far (each was lent at least once). */
  get made(): number {
    return this.#made;
  }

  take(): Uint8Array<ArrayBuffer> | null {
    const b = this.#free.pop();
    if (b) return b;
    if (this.#made >= this.count) return null;
    this.#made++;
    return new Uint8Array(BIG_COPY);
  }

  give(b: Uint8Array<ArrayBuffer>): void {
    this.#free.push(b);
  }
}

async function copy(from: ByteConn, to: ByteConn, big: BigBuffers, first?: Uint8Array) {
  let buf = new Uint8Array(SMALL_COPY);
  let borrowed = false;
  const write = async (b: Uint8Array) => {
    for (let at = 0; at < b.length;) at += await to.write(b.subarray(at));
  };
  try {
    if (first?.length) await write(first);
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      await write(buf.subarray(0, n));
      if (n === buf.length && !borrowed) {
        const b = big.take();
        if (b) [buf, borrowed] = [b, true];
      }
    }
    await to.closeWrite().catch(() => {});
  } finally {
    if (borrowed) big.give(buf);
  }
}

/**
 * Copies `client` (after `first`) to `outer` and back until either direction ends or fails; then
 * closes both. Settles when done; never rejects.
 */
export async function splice(
  client: ByteConn,
  first: Uint8Array,
  outer: ByteConn,
  big: BigBuffers,
  clientGone: () => void = () => {},
) {
  const close = () => {
    for (const c of [client, outer]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  // Either end closing ends the whole connection. The client's going (even a half-close) must
  // reach the engine as a hang-up, as it does on the client's own socket: a half-closed pair
  // looks alive to Deno's engine, and a stream whose client left would never end.
  // Closing the pair is not always seen by Deno's engine as a hang-up while a stream writes
  // nothing, so the connection's requests are also told directly (`clientGone`).
  const up = copy(client, outer, big, first).catch((e) => log.debug(`bridge: in: ${e}`)).finally(
    () => {
      clientGone();
      close();
    },
  );
  await copy(outer, client, big).catch((e) => log.debug(`bridge: out: ${e}`));
  close();
  await up;
}
