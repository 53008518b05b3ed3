/**
 * api/peer.ts: who may complete a request on the TCP and vsock listeners. The kernel's socket
 * tables as text, every address form an attacker can pick (loopback, ::1, v4-mapped, the VM's
 * own address), a peer socket that closed before its request was served, and the real kernel:
 * a TCP listener whose guard refuses this test's own uid refuses it before any route runs.
 */
import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  addrOf,
  judgeTcpPeer,
  parseProcNetTcp,
  type SocketEntry,
  type TcpPeerFacts,
  tcpPeerGuard,
  uidPolicy,
  vsockPeerGuard,
} from "../../../src/api/peer.ts";
import { guarded, handlerFor, type Route, serveConfig, serveTcp } from "../../../src/api/server.ts";

const HEAD =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

Deno.test("parseProcNetTcp: IPv4 and IPv6 lines in the kernel's byte order; v4-mapped is IPv4", () => {
  const v4 = HEAD +
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1076 1 0 100 0 0 10 0\n" +
    "   1: 0100007F:933C 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 1000002        0 4242 1 0\n";
  const v6 = HEAD +
    "   0: 00000000000000000000000001000000:D431 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000  1000003        0 777 1 0\n" +
    "   1: 0000000000000000FFFF00000100007F:D432 0000000000000000FFFF00000100007F:1F90 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0\n";
  const e = [...parseProcNetTcp(v4), ...parseProcNetTcp(v6)];
  assertEquals(e.length, 4);
  assertEquals(e[0], {
    local: { addr: "7f000001", port: 8080 },
    remote: { addr: "00000000", port: 0 },
    state: 10,
    uid: 0,
    inode: 1076,
  });
  assertEquals(e[1].uid, 1000002);
  assertEquals(e[1].remote, { addr: "7f000001", port: 8080 });
  assertEquals(e[2].local, { addr: addrOf("::1"), port: 0xd431 });
  assertEquals(e[3].local, { addr: "7f000001", port: 0xd432 }); // ::ffff:127.0.0.1
  assertEquals(e[3].state, 6);
});

Deno.test("addrOf: Deno's address spellings, v4-mapped folded into IPv4", () => {
  assertEquals(addrOf("127.0.0.1"), "7f000001");
  assertEquals(addrOf("::ffff:127.0.0.1"), "7f000001");
  assertEquals(addrOf("::ffff:7f00:1"), "7f000001");
  assertEquals(addrOf("[::1]"), "0".repeat(31) + "1");
  assertEquals(addrOf("fe80::1%eth0"), "fe80" + "0".repeat(27) + "1");
  assertEquals(addrOf("2001:db8:0:0:0:0:0:2"), "20010db8" + "0".repeat(23) + "2");
  for (const bad of ["1.2.3", "1:2:3", "::1::", "300.1.1.1", "hello"]) {
    let threw = false;
    try {
      addrOf(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

const PORT = 8080;
const containers = uidPolicy((u) => u >= 1_000_000);
const sock = (
  local: [string, number],
  remote: [string, number],
  o: Partial<SocketEntry> = {},
): SocketEntry => ({
  local: { addr: addrOf(local[0]), port: local[1] },
  remote: { addr: addrOf(remote[0]), port: remote[1] },
  state: 1,
  uid: 0,
  inode: 1,
  ...o,
});
const facts = (sockets: SocketEntry[], local = ["10.0.2.15"]): TcpPeerFacts => ({
  sockets,
  localAddrs: new Set(local.map(addrOf)),
});
const judge = (f: TcpPeerFacts, host: string, port: number) =>
  judgeTcpPeer(f, { addr: addrOf(host), port }, PORT, containers);

Deno.test("judgeTcpPeer: a container's socket is refused over every local address", () => {
  for (
    const [client, server] of [["127.0.0.1", "127.0.0.1"], ["10.0.2.15", "10.0.2.15"], [
      "::1",
      "::1",
    ], ["127.0.0.5", "127.0.0.1"]]
  ) {
    const f = facts([
      sock([server, PORT], [client, 40000], { uid: 0, inode: 9 }), // ours (acond is root)
      sock([client, 40000], [server, PORT], { uid: 1_000_002, inode: 10 }), // the container's
    ]);
    const why = judge(f, client, 40000);
    assert(why !== null && why.includes("container"), `${client}: ${why}`);
  }
});

Deno.test("judgeTcpPeer: v4-mapped client (tcp6 table) to an IPv4 listener is the same socket", () => {
  const t4 = HEAD +
    "   0: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1 0\n";
  const t6 = HEAD +
    "   0: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000002        0 10 1 0\n";
  const f = {
    sockets: [...parseProcNetTcp(t4), ...parseProcNetTcp(t6)],
    localAddrs: new Set<string>(),
  };
  assert(judge(f, "127.0.0.1", 0x9c40)?.includes("container"));
  assert(judge(f, "::ffff:127.0.0.1", 0x9c40)?.includes("container"));
});

Deno.test("judgeTcpPeer: a host process is served, a peer outside the VM is served", () => {
  const local = facts([
    sock(["127.0.0.1", PORT], ["127.0.0.1", 40000]),
    sock(["127.0.0.1", 40000], ["127.0.0.1", PORT], { uid: 1000, inode: 10 }),
  ]);
  assertEquals(judge(local, "127.0.0.1", 40000), null);
  const remote = facts([sock(["10.0.2.15", PORT], ["10.0.2.2", 5555])]);
  assertEquals(judge(remote, "10.0.2.2", 5555), null);
});

Deno.test("judgeTcpPeer: in doubt, refused", () => {
  // The peer sent its request and closed: its socket is TIME_WAIT (or orphaned), uid reads 0.
  const closed = facts([
    sock(["127.0.0.1", PORT], ["127.0.0.1", 40000], { state: 8 }),
    sock(["127.0.0.1", 40000], ["127.0.0.1", PORT], { state: 6, uid: 0, inode: 0 }),
  ]);
  assert(judge(closed, "127.0.0.1", 40000)?.includes("no owner"));
  const orphan = facts([
    sock(["127.0.0.1", PORT], ["127.0.0.1", 40000]),
    sock(["127.0.0.1", 40000], ["127.0.0.1", PORT], { state: 5, uid: 1_000_002, inode: 0 }),
  ]);
  assert(judge(orphan, "127.0.0.1", 40000)?.includes("no owner"));
  // A local address whose socket is gone from the tables.
  const gone = facts([sock(["10.0.2.15", PORT], ["10.0.2.15", 40000])]);
  assert(judge(gone, "10.0.2.15", 40000)?.includes("local address"));
  const goneLo = facts([sock(["127.0.0.1", PORT], ["127.0.0.1", 40000])]);
  assert(judge(goneLo, "127.0.0.1", 40000)?.includes("local address"));
  // Our own end is not there (the connection is gone, or the tables are not ours).
  assert(judge(facts([]), "10.0.2.2", 5555)?.includes("not in the kernel"));
  // A listening socket is not our end of a connection.
  const listenOnly = facts([sock(["0.0.0.0", PORT], ["10.0.2.2", 5555], { state: 10 })]);
  assert(judge(listenOnly, "10.0.2.2", 5555) !== null);
});

Deno.test("vsockPeerGuard: CID 1 (a process of this machine) never; as PID 1 the host only", async () => {
  const at = (cid: number) => ({ transport: "vsock" as const, cid, port: 1024 });
  const local = at(4);
  for (const hostOnly of [false, true]) {
    const g = vsockPeerGuard(hostOnly);
    assert((await g(at(1), local))?.includes("CID 1"));
    assertEquals(await g(at(2), local), null);
    assertEquals(await g(at(3), local) === null, !hostOnly);
  }
});

Deno.test("guarded: a refused peer gets 403 permission_denied and no route runs", async () => {
  let ran = 0;
  const routes = new Map<string, Route>([["/svc/Shutdown", () => {
    ran++;
    return Promise.resolve(new Response("done"));
  }]]);
  const local = () => ({ transport: "tcp" as const, hostname: "127.0.0.1", port: PORT });
  const info = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  } as Deno.ServeHandlerInfo<Deno.NetAddr>;
  const req = () => new Request("http://acond/svc/Shutdown", { method: "POST", body: "{}" });
  const no = guarded(handlerFor(routes), () => Promise.resolve("a container"), local);
  const r = await no(req(), info);
  assertEquals(r.status, 403);
  assertEquals(r.headers.get("connection"), "close");
  const body = await r.json();
  assertEquals(body.code, "permission_denied");
  assert(body.message.includes("a container"));
  assertEquals(ran, 0);
  // A guard that throws refuses too.
  const broken = guarded(handlerFor(routes), () => Promise.reject(new Error("boom")), local);
  assertEquals((await broken(req(), info)).status, 403);
  assertEquals(ran, 0);
  const yes = guarded(handlerFor(routes), () => Promise.resolve(null), local);
  assertEquals(await (await yes(req(), info)).text(), "done");
  assertEquals(ran, 1);
});

Deno.test("serveTcp with the kernel's tables: this process's uid refused, another's served", async () => {
  const me = Deno.uid()!;
  let ran = 0;
  const routes = new Map<string, Route>([["/svc/Kill", () => {
    ran++;
    return Promise.resolve(new Response("killed"));
  }]]);
  const call = async (port: number, host: string) => {
    const r = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${port}/svc/Kill`, {
      method: "POST",
      body: "{}",
    });
    return [r.status, await r.text()] as const;
  };
  const refuseMe = serveTcp(
    "127.0.0.1",
    0,
    routes,
    tcpPeerGuard(uidPolicy((u) => u === me)),
    serveConfig(),
  );
  const port = Number(refuseMe.addr.split(":").pop());
  const allowAll = serveTcp(
    "127.0.0.1",
    0,
    routes,
    tcpPeerGuard(uidPolicy(() => false)),
    serveConfig(),
  );
  const port2 = Number(allowAll.addr.split(":").pop());
  try {
    const [status, text] = await call(port, "127.0.0.1");
    assertEquals(status, 403);
    assert(text.includes(`host uid ${me}`), text);
    assertEquals(ran, 0);
    assertEquals(await call(port2, "127.0.0.1"), [200, "killed"]);
    assertEquals(ran, 1);
  } finally {
    await refuseMe.shutdown();
    await allowAll.shutdown();
  }
});

Deno.test("readTcpPeerFacts: descriptors run out → it throws naming the table, never an empty table", async () => {
  // In a child whose descriptors are all taken (EMFILE): the guard must not read that as "no
  // sockets" (then every client is "not in the kernel's socket tables", a wrong reason).
  const src = `
    import { readTcpPeerFacts } from ${
    JSON.stringify(new URL("../../../src/api/peer.ts", import.meta.url).href)
  };
    const held = [];
    try { for (;;) held.push(Deno.openSync("/dev/null")); } catch { /* EMFILE */ }
    try { const f = await readTcpPeerFacts(); console.log("read " + f.sockets.length); }
    catch (e) { console.log("threw " + e.message); }
  `;
  const out = await new Deno.Command("prlimit", {
    args: ["--nofile=64", Deno.execPath(), "eval", "--no-config", src],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert(out.success, new TextDecoder().decode(out.stderr));
  assert(text.startsWith("threw /proc/net/tcp"), text);
});
