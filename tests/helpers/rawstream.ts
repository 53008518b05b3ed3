/**
 * A server stream opened over a raw connection to the daemon's socket and cut by closing the
 * connection: the cut a client that goes away makes. (Deno 2.9.6's fetch, under connect-es,
 * does not always cut: an abort while the response body has no data arriving can leave the read
 * pending and the connection open until more data comes, so the daemon rightly keeps serving the
 * stream. Checks that a cut stream frees what it held cut with this instead.)
 */

const enc = new TextEncoder();

/** A streaming request body: one envelope (flags 0, length, the message: JSON or binary). */
export function connectEnvelope(message: string | Uint8Array): Uint8Array {
  const body = typeof message === "string" ? enc.encode(message) : message;
  const env = new Uint8Array(5 + body.length);
  new DataView(env.buffer).setUint32(1, body.length);
  env.set(body, 5);
  return env;
}

export interface CutStream {
  /** The response's status line ("" when nothing came before the cut). */
  status: string;
  /** Bytes of the response read before the cut. */
  bytes: number;
}

/**
 * POSTs `message` to `/acon.grpc.AconService/<method>` on the Unix socket `socket` (Connect
 * streaming JSON by default; `contentType` application/connect+proto or application/grpc-web+proto
 * with a binary message), reads what comes for `ms` milliseconds (or until the daemon ends the
 * response), and closes the connection.
 */
export async function cutStream(
  socket: string,
  method: string,
  message: string | Uint8Array,
  ms: number,
  contentType = "application/connect+json",
): Promise<CutStream> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  let head = "";
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const env = connectEnvelope(message);
    await conn.write(enc.encode(
      `POST /acon.grpc.AconService/${method} HTTP/1.1\r\nHost: x\r\n` +
        `Content-Type: ${contentType}\r\nContent-Length: ${env.length}\r\n\r\n`,
    ));
    await conn.write(env);
    const CUT = Symbol("cut");
    const cut = new Promise<typeof CUT>((r) => timer = setTimeout(() => r(CUT), ms));
    const buf = new Uint8Array(65536);
    for (;;) {
      const reading = conn.read(buf);
      const n = await Promise.race([reading, cut]);
      if (n === CUT) {
        reading.catch(() => {}); // fails once the connection is closed below
        break;
      }
      if (n === null) break; // the daemon ended the response
      if (head.length < 64) head += new TextDecoder().decode(buf.subarray(0, Math.min(n, 64)));
      bytes += n;
    }
  } finally {
    clearTimeout(timer);
    conn.close();
  }
  return { status: head.split("\r\n")[0], bytes };
}
