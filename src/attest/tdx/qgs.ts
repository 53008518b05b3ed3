/** A GET_QUOTE exchange with the host's QGS over a stream (vsock CID 2, port 4050 by default). */
import { frameBE } from "./structs.ts";

export interface ByteStream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Largest QGS response accepted (quotes are a few KiB; DICE quotes can exceed 8 KiB). */
export const MAX_QGS_RESPONSE = 1 << 20;

async function readExactly(s: ByteStream, n: number): Promise<Uint8Array> {
  const b = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const r = await s.read(b.subarray(off));
    if (r === null || r === 0) throw new Error(`QGS closed the connection after ${off}/${n} bytes`);
    off += r;
  }
  return b;
}

/** Sends one framed message and reads one framed response; closes the stream. */
export async function qgsExchange(s: ByteStream, msg: Uint8Array): Promise<Uint8Array> {
  try {
    const out = frameBE(msg);
    let off = 0;
    while (off < out.length) off += await s.write(out.subarray(off));
    const len = new DataView((await readExactly(s, 4)).buffer).getUint32(0, false);
    if (len === 0 || len > MAX_QGS_RESPONSE) throw new Error(`QGS response length ${len}`);
    return await readExactly(s, len);
  } finally {
    try {
      s.close();
    } catch { /* already closed */ }
  }
}

export const QGS_VSOCK_CID = 2;
export const QGS_VSOCK_PORT = 4050;

/** Connects to the host QGS over vsock (needs Deno's vsock support, --unstable-vsock). */
export async function vsockQgs(msg: Uint8Array, cid = QGS_VSOCK_CID, port = QGS_VSOCK_PORT) {
  // deno-lint-ignore no-explicit-any
  const connect = Deno.connect as any;
  const conn: ByteStream = await connect({ transport: "vsock", cid, port });
  const timer = setTimeout(() => conn.close(), 30_000);
  try {
    return await qgsExchange(conn, msg);
  } finally {
    clearTimeout(timer);
  }
}
