/**
 * Native gRPC (HTTP/2 with trailers) against the real dist/acond --dev, with an independent
 * client: Debian's python3-grpcio, stubs generated from proto/acon.proto by python3-grpc-tools
 * at test time (tests/integration/grpc_client.py, into a temporary directory). Over TCP and the
 * Unix socket: Health, Inspect, a Logs stream of a real busybox container, error codes
 * (INVALID_ARGUMENT for an unknown container as ACON answers it, NOT_FOUND for an unknown
 * upload), deadlines on server streams (KernelLog, Watch: DEADLINE_EXCEEDED), a message that
 * does not parse (INVALID_ARGUMENT). Then malformed gRPC framing and garbage HTTP/2 (curl and raw
 * bytes): a clear status, the daemon goes on. And a container cannot call over TCP with gRPC
 * (the peer guard refuses it before any handler, as on HTTP/1.1).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { image, type World, world } from "../helpers/containers.ts";
import { TOP } from "../helpers/daemon.ts";
import { freePort, servedCertificateFile } from "../helpers/net.ts";
import { KillRequestSchema } from "../../src/gen/acon_pb.ts";

const PY = "/usr/bin/python3"; // Debian's, with python3-grpcio (a pyenv python may shadow it)
const CLIENT = `${TOP}/tests/integration/grpc_client.py`;

/** grpc_client.py; `rootCert`: TLS trusting that certificate (a TCP target), else plaintext. */
async function grpc(stubs: string, target: string, ...args: string[]) {
  const rootCert = target.startsWith("unix:") ? undefined : tlsRoots.get(target);
  const r = await new Deno.Command(PY, {
    args: [CLIENT, `${TOP}/proto`, stubs, target, ...args],
    env: rootCert ? { GRPC_ROOT_CERT: rootCert } : {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert(r.success, `grpc_client.py ${args.join(" ")} failed: ${err}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

async function curl(args: string[]): Promise<string> {
  const r = await new Deno.Command("curl", { args: ["-sS", "-v", ...args], stderr: "piped" })
    .output();
  return new TextDecoder().decode(r.stderr);
}

/** TCP targets served over TLS → the PEM file of the certificate they serve. */
const tlsRoots = new Map<string, string>();

/**
 * A world whose TCP listener is attested TLS (the default; grpcio trusts the served certificate)
 * or, with `tls: false`, plain h2c (`--tls off`): what raw HTTP/2 bytes written by hand need.
 */
async function grpcWorld(
  fn: (w: World, port: number, stubs: string) => Promise<void>,
  o: { tls?: boolean } = {},
) {
  const port = freePort();
  const tls = o.tls ?? true;
  const w = await world({ args: ["--tcp", `127.0.0.1:${port}`, ...(tls ? [] : ["--tls", "off"])] });
  const stubs = await Deno.makeTempDir({ prefix: "acond-grpc-stubs-" });
  if (tls) tlsRoots.set(`127.0.0.1:${port}`, await servedCertificateFile(port, stubs));
  try {
    await fn(w, port, stubs);
  } finally {
    await w.d.stop();
    await Deno.remove(stubs, { recursive: true }).catch(() => {});
  }
}

Deno.test("grpcio over TCP and the Unix socket: Health, Inspect, a Logs stream, error codes, deadlines, a malformed message", async () => {
  await grpcWorld(async (w, port, stubs) => {
    const img = await image(w, {
      entrypoint: ["/bin/sh", "-c", "echo one; sleep 0.3; echo two; echo three"],
      logFDs: [1],
    });
    for (const target of [`127.0.0.1:${port}`, `unix:${w.d.socket}`]) {
      const h = await grpc(stubs, target, "health");
      assertEquals([h.tee, h.api_version], ["sim", "1.0.0"], target);
      const id = (await w.c.start({ imageId: img })).containerId;
      assertEquals(await grpc(stubs, target, "logs", String(id)), { logs: "one\ntwo\nthree\n" });
      const seen = await grpc(stubs, target, "inspect", String(id));
      assertEquals(seen.info.map((i: { id: number }) => i.id), [id], target);
      assertEquals((await grpc(stubs, target, "inspect", "4242")).error, "INVALID_ARGUMENT");
      const nf = await grpc(stubs, target, "blobstatus", "0".repeat(32));
      assertEquals([nf.error, nf.message], ["NOT_FOUND", "Unknown or expired upload id"]);
      // Server streams that never end on their own: the client's deadline (grpc-timeout) ends them.
      assertEquals(
        (await grpc(stubs, target, "kernellog-deadline", "1")).error,
        "DEADLINE_EXCEEDED",
      );
      assertEquals((await grpc(stubs, target, "watch-deadline", "1")).error, "DEADLINE_EXCEEDED");
      // A message that does not parse as an InspectRequest (a truncated varint field).
      const bad = await grpc(stubs, target, "raw-unary", "Inspect", "08");
      assertEquals(bad.error, "INVALID_ARGUMENT", target);
      assertMatch(bad.message, /Malformed request: .*InspectRequest/);
    }
  });
});

/** The Buf CLI, pinned in package.json (scripts/setup installs it). */
const BUF = `${TOP}/node_modules/.bin/buf`;

/** `buf curl` with acond's schema; its JSON output (or error) and exit status. */
async function bufCurl(args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await new Deno.Command(BUF, {
    args: ["curl", "--schema", `${TOP}/proto/acon.proto`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { ok: r.success, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("buf curl (the Buf CLI): native gRPC, Connect and gRPC-web on the Unix socket; gRPC over attested TLS trusting the served certificate; a Logs stream; an error code", async () => {
  await grpcWorld(async (w, port) => {
    const img = await image(w, {
      entrypoint: ["/bin/sh", "-c", "echo alpha; echo beta"],
      logFDs: [1],
    });
    const id = (await w.c.start({ imageId: img })).containerId;
    const unix = ["--http2-prior-knowledge", "--unix-socket", w.d.socket];
    const at = (m: string) => `http://localhost/acon.grpc.AconService/${m}`;
    for (const protocol of ["grpc", "connect", "grpcweb"]) {
      const h = await bufCurl([...unix, "--protocol", protocol, "-d", "{}", at("Health")]);
      assert(h.ok, `${protocol}: ${h.err}`);
      assertEquals([JSON.parse(h.out).tee, JSON.parse(h.out).apiVersion], ["sim", "1.0.0"]);
    }
    // A server stream: each message is one JSON document; the chunks' data (base64) is the log.
    const logs = await bufCurl([
      ...unix,
      "--protocol",
      "grpc",
      "-d",
      JSON.stringify({ containerId: id, follow: true, fromStart: true }),
      at("Logs"),
    ]);
    assert(logs.ok, logs.err);
    const docs = logs.out.trim().split(/\n(?=\{)/).map((t) => JSON.parse(t));
    const text = docs.map((m) => atob(m.data ?? "")).join("");
    assertEquals(text, "alpha\nbeta\n");
    // An error: the code and message as Connect sends them, a failing exit status.
    const bad = await bufCurl([
      ...unix,
      "--protocol",
      "grpc",
      "-d",
      '{"containerId":4242}',
      at("Inspect"),
    ]);
    assert(!bad.ok);
    assertMatch(bad.out + bad.err, /invalid_argument/);
    // TCP: attested TLS; buf trusts the certificate acond serves (aconctl is what checks its
    // evidence), which names localhost.
    const tls = await bufCurl([
      "--protocol",
      "grpc",
      "--cacert",
      tlsRoots.get(`127.0.0.1:${port}`)!,
      "-d",
      "{}",
      `https://localhost:${port}/acon.grpc.AconService/Health`,
    ]);
    assert(tls.ok, tls.err);
    assertEquals(JSON.parse(tls.out).tee, "sim");
  });
});

/** A gRPC call's HTTP/2 trailers and status as curl -v shows them. */
function grpcStatus(verbose: string): string | undefined {
  return /< grpc-status: (\d+)/.exec(verbose)?.[1];
}

Deno.test("malformed gRPC framing and garbage HTTP/2: a clear status or a closed connection, never a daemon crash", async () => {
  // Plain h2c (`--tls off`): the bytes are written by hand; TLS would only wrap them.
  await grpcWorld(async (w, port) => {
    const dir = await Deno.makeTempDir({ prefix: "acond-grpc-bodies-" });
    try {
      const url = `http://127.0.0.1:${port}/acon.grpc.AconService/Inspect`;
      const post = async (body: Uint8Array, extra: string[] = []) => {
        await Deno.writeFile(`${dir}/b`, body);
        return await curl([
          "--http2-prior-knowledge",
          "-H",
          "content-type: application/grpc",
          "-H",
          "te: trailers",
          ...extra,
          "--data-binary",
          `@${dir}/b`,
          url,
          "-o",
          "/dev/null",
        ]);
      };
      // An envelope that promises 100 bytes and has 2: INVALID_ARGUMENT (3), with a reason.
      const short = await post(new Uint8Array([0, 0, 0, 0, 100, 8, 1]));
      assertEquals(grpcStatus(short), "3", short);
      assertMatch(short, /< grpc-message: protocol%20error%3A%20incomplete%20envelope/);
      // Half an envelope header.
      assertEquals(grpcStatus(await post(new Uint8Array([0, 0, 0]))), "3");
      // A message over the size limit (--max-request): RESOURCE_EXHAUSTED (8), unread.
      const big = new Uint8Array(5);
      new DataView(big.buffer).setUint32(1, 1 << 30);
      assertEquals(grpcStatus(await post(big)), "8");
      // A compressed flag with no grpc-encoding: INTERNAL (13) as the gRPC spec says.
      const z = await post(new Uint8Array([1, 0, 0, 0, 0]));
      assertMatch(grpcStatus(z) ?? "", /^(3|13)$/, z);
      // A well-formed call still works on the same daemon: OK (0) in the trailers.
      assertEquals(grpcStatus(await post(new Uint8Array([0, 0, 0, 0, 0]))), "0");

      // Garbage after the HTTP/2 preface, and a GOAWAY first: the connection ends, nothing else.
      for (
        const tail of [
          crypto.getRandomValues(new Uint8Array(512)),
          new Uint8Array([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
          new Uint8Array([0, 0, 4, 1, 5, 0, 0, 0, 1, 0x82, 0xff, 0xff, 0xff]), // bad HPACK
        ]
      ) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        await c.write(new Uint8Array([...preface, 0, 0, 0, 4, 0, 0, 0, 0, 0, ...tail]));
        const buf = new Uint8Array(4096);
        try {
          while ((await c.read(buf)) !== null) { /* until the server closes */ }
        } catch { /* reset */ }
        c.close();
      }
      const h = await w.c.health({});
      assertEquals(h.tee, "sim");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }, { tls: false });
});

/** HPACK literal header field without indexing, new name (RFC 7541 §6.2.2), short strings. */
function literal(name: string, value: string): number[] {
  const e = new TextEncoder();
  const n = [...e.encode(name)], v = [...e.encode(value)];
  return [0, n.length, ...n, v.length, ...v];
}

function frame(type: number, flags: number, stream: number, payload: number[]): number[] {
  const l = payload.length;
  return [l >> 16, (l >> 8) & 0xff, l & 0xff, type, flags, 0, 0, 0, stream, ...payload];
}

Deno.test("a container cannot call the API on TCP with gRPC: refused before any handler", async () => {
  // Plain h2c (`--tls off`): busybox nc speaks no TLS; what must refuse it is the peer guard.
  await grpcWorld(async (w, port) => {
    const img = await image(w, {});
    const attacker = (await w.c.start({ imageId: img })).containerId;
    const victim = (await w.c.start({ imageId: img })).containerId;
    const msg = toBinary(
      KillRequestSchema,
      create(KillRequestSchema, { containerId: victim, signalNum: 9 }),
    );
    const headers = [
      ...literal(":method", "POST"),
      ...literal(":scheme", "http"),
      ...literal(":path", "/acon.grpc.AconService/Kill"),
      ...literal(":authority", "x"),
      ...literal("content-type", "application/grpc"),
      ...literal("te", "trailers"),
    ];
    const bytes = [
      ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      ...frame(4, 0, 0, []), // SETTINGS
      ...frame(1, 4, 1, headers), // HEADERS, END_HEADERS
      ...frame(0, 1, 1, [0, 0, 0, 0, msg.length, ...msg]), // DATA, END_STREAM
    ];
    const octal = bytes.map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
    const r = await w.c.exec({
      containerId: attacker,
      command: "Sh",
      arguments: [`(printf '${octal}'; sleep 3) | nc -w 5 127.0.0.1 ${port} | wc -c`],
      envs: ["PATH=/bin"],
      timeout: 20n,
    });
    const answered = Number(new TextDecoder().decode(r.stdout).trim());
    assert(answered > 0, "the daemon did not answer the container's gRPC call at all");
    assert((await w.c.inspect({ containerId: victim })).info[0].running, "the victim was killed");
    assertMatch(w.d.stderr(), /refused POST \/acon\.grpc\.AconService\/Kill from .*container/);
  }, { tls: false });
});
