/**
 * Descriptor exhaustion and slow clients against the real dist/acond --dev, its descriptor limit
 * lowered to 128 (prlimit on the running daemon): 400 half-open TCP connections (some silent,
 * some stopped mid-header) do not end the daemon; while they are open the API answers on TCP
 * and on the Unix socket, and a container starts and its exit is reaped. A client that sends
 * its headers a byte at a time, or stalls in its body, is cut off (--header-timeout and
 * --body-timeout of 2 s), and after the flood the daemon's descriptors come back down.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

/** The daemon's descriptors, less the namespaces it keeps for a container's Restart. */
function fdCount(pid: number): number {
  let n = 0;
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        !/^(user|mnt|pid|ipc|uts|net|cgroup):\[/.test(
          Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`),
        )
      ) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Whether the daemon closes `conn` (read gives EOF or an error) within `ms`; bounded wait. */
async function closedWithin(conn: Deno.Conn, ms: number, trickle?: () => Promise<void>) {
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  let closed = false;
  const reading = (async () => {
    try {
      while ((await conn.read(buf)) !== null) { /* a response: keep reading until EOF */ }
    } catch { /* reset */ }
    closed = true;
  })();
  while (!closed && Date.now() < deadline) {
    await trickle?.().catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    conn.close();
  } catch { /* closed */ }
  await reading;
  return closed;
}

Deno.test("descriptor exhaustion: 400 half-open connections at RLIMIT_NOFILE 128, the API and reaping go on; slowloris and stalled bodies are cut", async () => {
  const port = freePort();
  const d = await startDaemon({
    // Plain HTTP on TCP (--tls off): the limits are the connection's, TLS or not.
    args: [
      "--tcp",
      `127.0.0.1:${port}`,
      "--tls",
      "off",
      "--header-timeout",
      "2",
      "--body-timeout",
      "2",
    ],
  });
  const flood: Deno.Conn[] = [];
  try {
    const pid = d.proc.pid;
    const lim = await new Deno.Command("prlimit", {
      args: ["--pid", String(pid), "--nofile=128:128"],
    }).output();
    assert(lim.success, new TextDecoder().decode(lim.stderr));
    // An image to start under the flood (loaded before it).
    const src = await Deno.makeTempDir({ prefix: "bb-rootfs-" });
    await buildRootfs(src, {});
    const tar = await tarOf(src);
    await Deno.remove(src, { recursive: true });
    const c = d.client();
    const m = baseManifest({
      layers: [`sha384/${await sha384hex(tar)}`],
      entrypoint: ["/bin/sh", "-c", "exit 3"],
      env: ["PATH=/bin"],
      uids: [],
      maxInstances: 0,
    });
    const { imageId } = await c.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
    await c.addBlob({ alg: 2, data: tar });
    await new Promise((r) => setTimeout(r, 1200)); // the daemon reads the new limit within 1 s
    const base = fdCount(pid);

    for (let i = 0; i < 400; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      if (i % 2) await conn.write(enc("POST /acon.grpc.AconService/Health HTTP/1.1\r\nHo"));
      flood.push(conn);
    }
    // The API answers over TCP (a new client gets in: the oldest idle connection makes room)...
    const http = Deno.createHttpClient({});
    try {
      const r = await fetch(`http://127.0.0.1:${port}/acon.grpc.AconService/Health`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        client: http,
      });
      assertEquals(r.status, 200);
      await r.body?.cancel();
    } finally {
      http.close();
    }
    // ...and over the Unix socket; a container starts and its exit is reaped.
    assertEquals(typeof (await c.health({})).version, "string");
    const { containerId } = await c.start({ imageId, envs: [] });
    // Inspect's state is 0 once the entry point has exited (a process state letter before).
    let state = -1;
    for (let i = 0; i < 100 && state !== 0; i++) {
      state = (await c.inspect({ containerId })).info[0]?.state ?? -1;
      if (state !== 0) await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals(state, 0, "the container's exit was reaped under the flood");
    for (const f of flood.splice(0)) f.close();

    // A header sent a byte at a time is cut off; so is a body that stalls.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    const head = enc(
      "POST /acon.grpc.AconService/Health HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(200),
    );
    let at = 0;
    assert(
      await closedWithin(
        slow,
        20_000,
        async () => void (await slow.write(head.subarray(at, ++at))),
      ),
      "slowloris connection cut",
    );
    const stall = await Deno.connect({ hostname: "127.0.0.1", port });
    await stall.write(
      enc(
        "POST /acon.grpc.AconService/Health HTTP/1.1\r\nHost: x\r\n" +
          "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
      ),
    );
    assert(await closedWithin(stall, 20_000), "stalled body cut");

    // The flood is over: the descriptors come back down, the daemon still answers.
    let now = fdCount(pid);
    for (let i = 0; i < 100 && now > base; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = fdCount(pid);
    }
    assert(now <= base, `descriptors: ${base} before the flood, ${now} after`);
    assertEquals(typeof (await c.health({})).version, "string");
    assertEquals(
      await Promise.race([d.proc.status.then(() => "exited"), Promise.resolve("alive")]),
      "alive",
    );
  } finally {
    for (const f of flood) {
      try {
        f.close();
      } catch { /* closed */ }
    }
    await d.stop();
  }
});
