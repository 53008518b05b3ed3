/**
 * Hands a connection whose first bytes were already read (to tell HTTP/2 from HTTP/1.1,
 * api/conn_limits.ts) to Deno's own engine, which can only serve a socket it reads itself: the
 * connection is spliced to one end of a private Unix socket pair, whose other end Deno's engine
 * serves. The pair comes from a listener in a fresh 0700 directory (only this process connects
 * to it; connect and accept are paired one at a time). Each spliced connection holds two more
 * descriptors (`FDS_PER_BRIDGE`) and one more copy of its bytes.
 */
import { log } from "../util/log.ts";
import type { ByteConn } from "./byteconn.ts";

/** Descriptors a bridged connection holds besides its own. */
export const FDS_PER_BRIDGE = 2;

export class Bridge {
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

async function copy(from: ByteConn, to: ByteConn, first?: Uint8Array): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  const write = async (b: Uint8Array) => {
    for (let at = 0; at < b.length;) at += await to.write(b.subarray(at));
  };
  if (first?.length) await write(first);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) break;
    await write(buf.subarray(0, n));
  }
  await to.closeWrite().catch(() => {});
}

/**
 * Copies `client` (after `first`) to `outer` and back until either direction ends or fails; then
 * closes both. Settles when done; never rejects.
 */
export async function splice(
  client: ByteConn,
  first: Uint8Array,
  outer: ByteConn,
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
  const up = copy(client, outer, first).catch((e) => log.debug(`bridge: in: ${e}`)).finally(() => {
    clientGone();
    close();
  });
  await copy(outer, client).catch((e) => log.debug(`bridge: out: ${e}`));
  close();
  await up;
}
