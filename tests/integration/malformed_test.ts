/**
 * A binary request message that does not parse is answered invalid_argument (not internal) by
 * the real dist/acond --dev, on Connect unary (application/proto), Connect streaming
 * (application/connect+proto, a server-streaming RPC) and gRPC-web, with raw bytes sent by fetch
 * and by curl. A well-formed message still goes through, and a client's own copy of the check's
 * internal mark changes nothing.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";

const API = "http://localhost/acon.grpc.AconService";
/** Field 1, length-delimited, 5 bytes announced, 1 there: a truncated message. */
const BAD = new Uint8Array([0x0a, 0x05, 0x01]);

function envelope(msg: Uint8Array, flags = 0): Uint8Array<ArrayBuffer> {
  const e = new Uint8Array(5 + msg.length);
  e[0] = flags;
  new DataView(e.buffer).setUint32(1, msg.length);
  e.set(msg, 5);
  return e;
}

/** gRPC-web's status: from the headers (trailers-only) or the trailer frame of the body. */
function grpcStatus(headers: Headers, body: Uint8Array): string | null {
  const h = headers.get("grpc-status");
  if (h !== null) return h;
  let at = 0;
  while (at + 5 <= body.length) {
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (body[at] & 0x80) {
      const text = new TextDecoder().decode(body.subarray(at + 5, at + 5 + len));
      return /grpc-status:\s*(\d+)/i.exec(text)?.[1] ?? null;
    }
    at += 5 + len;
  }
  return null;
}

Deno.test("malformed binary protobuf: invalid_argument on Connect unary, Connect streaming and gRPC-web (fetch and curl)", async () => {
  const d = await startDaemon();
  const http = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
  const post = async (
    rpc: string,
    type: string,
    body: Uint8Array<ArrayBuffer>,
    extra: HeadersInit = {},
  ) => {
    const r = await fetch(`${API}/${rpc}`, {
      method: "POST",
      headers: { "content-type": type, ...extra },
      body,
      client: http,
    });
    return { status: r.status, headers: r.headers, body: new Uint8Array(await r.arrayBuffer()) };
  };
  const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
  try {
    // Connect unary, binary.
    const u = await post("Health", "application/proto", BAD);
    assertEquals(u.status, 400);
    assertEquals(json(u.body).code, "invalid_argument");
    assertMatch(
      json(u.body).message,
      /^Malformed request: premature EOF \(expected a binary google\.protobuf\.Empty\)$/,
    );
    // A well-formed one is served; a client's copy of the mark changes nothing.
    assertEquals((await post("Health", "application/proto", new Uint8Array(0))).status, 200);
    const marked = await post("Health", "application/proto", new Uint8Array(0), {
      "x-acond-malformed": "x",
    });
    assertEquals(marked.status, 200);

    // Connect streaming (a server-streaming RPC): the end-of-stream frame carries the error.
    const s = await post("KernelLog", "application/connect+proto", envelope(BAD));
    assertEquals(s.status, 200);
    const end = s.body.subarray(5);
    assertEquals(s.body[0] & 0x02, 0x02);
    assertEquals(json(end).error.code, "invalid_argument");

    // gRPC-web: grpc-status 3 (INVALID_ARGUMENT).
    const g = await post("Health", "application/grpc-web+proto", envelope(BAD), {
      "x-grpc-web": "1",
    });
    assertEquals(g.status, 200);
    assertEquals(grpcStatus(g.headers, g.body), "3");

    // curl, raw bytes from a file.
    await Deno.writeFile(`${d.dir}/bad`, BAD);
    const c = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--unix-socket",
        d.socket,
        "-H",
        "content-type: application/proto",
        "--data-binary",
        `@${d.dir}/bad`,
        "-w",
        "\n%{http_code}",
        `${API}/Health`,
      ],
    }).output();
    const text = new TextDecoder().decode(c.stdout);
    const nl = text.lastIndexOf("\n");
    assertEquals(text.slice(nl + 1), "400");
    assertEquals(JSON.parse(text.slice(0, nl)).code, "invalid_argument");
    await Deno.writeFile(`${d.dir}/badweb`, envelope(BAD));
    const cw = await new Deno.Command("curl", {
      args: [
        "-sS",
        "-i",
        "--unix-socket",
        d.socket,
        "-H",
        "content-type: application/grpc-web+proto",
        "--data-binary",
        `@${d.dir}/badweb`,
        `${API}/Health`,
      ],
    }).output();
    assertMatch(new TextDecoder().decode(cw.stdout), /grpc-status:\s*3/i);
  } finally {
    http.close();
    await d.stop();
  }
});
