/**
 * No container process may drive the host API (issue 10 item 8). The real dev daemon serves TCP;
 * a real busybox container tries Kill (of another container) with busybox wget and nc over every
 * address it can reach the listener on: loopback (v4-mapped on a dual-stack listener), ::1 and
 * the machine's own addresses. Each attempt is refused before any handler runs: 403
 * permission_denied, the victim still runs, the daemon's log says refused. The host's own client
 * is served on the same listener. The Unix socket (0600, root) is out of the containers' sight.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** This machine's own non-loopback addresses (IPv4 and global IPv6), as URL hosts. */
function ownAddresses(): string[] {
  return Deno.networkInterfaces()
    .filter((i) =>
      i.family === "IPv4" ? !i.address.startsWith("127.") : !/^(::1$|fe80:)/i.test(i.address)
    )
    .map((i) => (i.family === "IPv6" ? `[${i.address}]` : i.address));
}

for (const listen of ["127.0.0.1", "[::]"]) {
  Deno.test(`a container cannot drive the API on TCP ${listen} (wget, nc); the host can`, async () => {
    const port = freePort();
    // Plain HTTP (--tls off): the peer guard, not TLS, is what must stop the container.
    const d = await startDaemon({ args: ["--tcp", `${listen}:${port}`, "--tls", "off"] });
    const src = await Deno.makeTempDir({ prefix: "hostapi-rootfs-" });
    try {
      await buildRootfs(src);
      const tar = await tarOf(src);
      const c = d.client();
      const m = baseManifest({
        layers: [`sha384/${await sha384hex(tar)}`],
        entrypoint: ["/bin/sleep", "1000"],
        env: ["PATH=/bin"],
        signals: [9],
        maxInstances: 0,
      });
      const added = await c.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
      await c.addBlob({ alg: 2, data: tar });
      const attacker = (await c.start({ imageId: added.imageId, envs: [] })).containerId;
      const victim = (await c.start({ imageId: added.imageId, envs: [] })).containerId;
      const sh = async (script: string) => {
        const r = await c.exec({
          containerId: attacker,
          command: "Sh",
          arguments: [script],
          envs: ["PATH=/bin"],
          timeout: 20n,
        });
        const dec = new TextDecoder();
        return dec.decode(r.stdout) + dec.decode(r.stderr);
      };
      const kill = JSON.stringify({ containerId: victim, signalNum: 9 });
      const path = "/acon.grpc.AconService/Kill";

      const hosts = listen === "127.0.0.1"
        ? ["127.0.0.1"]
        : ["127.0.0.1", "127.0.0.2", "[::1]", "[::ffff:127.0.0.1]", ...ownAddresses()];
      for (const host of hosts) {
        const out = await sh(
          `wget -q -O - --header 'Content-Type: application/json' --post-data '${kill}' ` +
            `http://${host}:${port}${path} 2>&1; echo "rc=$?"`,
        );
        // Every one of them reaches the listener, and each is refused: never served.
        assertMatch(out, /server returned error: HTTP\/1\.1 403 Forbidden\nrc=1/, host);
      }
      // nc: a hand-written request, the raw answer shows the 403 and its reason.
      const req = `POST ${path} HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n` +
        `Content-Length: ${kill.length}\\r\\n\\r\\n${kill}`;
      // stdin stays open a while: Deno's HTTP server drops a connection whose client half-closes.
      const raw = await sh(`(printf '${req}'; sleep 3) | nc -w 5 127.0.0.1 ${port}`);
      assertMatch(raw, /^HTTP\/1\.1 403/);
      assertMatch(raw, /permission_denied/);
      assertMatch(raw, /container process \(host uid \d+\)/);

      // No handler ran: the victim still runs; the log names every refusal.
      const v = (await c.inspect({ containerId: victim })).info[0];
      assert(v.running, "the victim was killed through the TCP listener");
      assertMatch(d.stderr(), /refused POST \/acon\.grpc\.AconService\/Kill from .*container/);

      // The host (this test, as root) is served on the same listener.
      const base = `http://${listen === "[::]" ? "[::1]" : "127.0.0.1"}:${port}`;
      const r = await fetch(`${base}/acon.grpc.AconService/Inspect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ containerId: victim }),
      });
      assertEquals(r.status, 200);
      assertEquals((await r.json()).info[0].running, true);

      // The Unix socket: root's, 0600, and not even in a container's file system.
      const st = await Deno.stat(d.socket);
      assertEquals([st.uid, st.mode! & 0o777], [0, 0o600]);
      assertMatch(await sh(`ls -l ${d.socket} 2>&1; echo rc=$?`), /No such file.*\n.*rc=1|rc=1/);
    } finally {
      await d.stop();
      await Deno.remove(src, { recursive: true }).catch(() => {});
    }
  });
}
