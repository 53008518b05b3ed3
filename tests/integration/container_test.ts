/**
 * Containers end to end against the real dist/acond --dev (as root): a busybox image built at
 * test time from Debian's busybox-static (a real GNU tar layer), a manifest signed with real
 * openssl, loaded with AddBlob + AddManifest, then Start/Exec/Kill/Inspect/Restart/Logs/Watch.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { code, dec, info, sh, sleep, waitExited } from "../helpers/containers.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { type AconClient, type DevDaemon, startDaemon } from "../helpers/daemon.ts";
import { makeSigner, type Signer } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, buildUsock, sha384hex, tarOf } from "../helpers/busybox.ts";
import { Event_Kind } from "../../src/gen/acon_pb.ts";

const enc = (s: string) => new TextEncoder().encode(s);

interface World {
  d: DevDaemon;
  c: AconClient;
  signer: Signer;
  layer: string;
  seq: number;
  /** The layer, uploaded (AddBlob) after the first manifest that references it. */
  tar: Uint8Array | null;
  /** An image of the layer with the default manifest (sleep 1000). */
  plain: string;
  /** The test stopped the daemon itself. */
  stopped?: boolean;
}

async function setup(): Promise<World> {
  const d = await startDaemon({ args: ["--interactive"] }); // pty Execs below
  const c = d.client();
  const signer = await makeSigner("ec-p384");
  const src = await Deno.makeTempDir({ prefix: "bb-rootfs-" });
  await buildRootfs(src, {
    // A symlink pointing at a host path: a writableFS Start must not chown what it points to.
    "etc/marker": [0o644, "layer file\n"],
  });
  await buildUsock(`${src}/bin/usock`);
  await Deno.symlink("/tmp/acond-victim", `${src}/etc/evil`);
  await Deno.symlink("/tmp/acond-victim-dir", `${src}/evildir`);
  const tar = await tarOf(src);
  await Deno.remove(src, { recursive: true });
  return { d, c, signer, layer: `sha384/${await sha384hex(tar)}`, seq: 0, tar, plain: "" };
}

/** Loads an image (AddManifest) made of the busybox layer; returns its id. */
async function image(w: World, over: Record<string, unknown>): Promise<string> {
  const m = baseManifest({
    layers: [w.layer],
    entrypoint: ["/bin/sleep", "1000"],
    env: ["PATH=/bin"],
    signals: [9, -9, 15, -15],
    maxInstances: 0,
    // A unique workingDir field value keeps manifests distinct across cases.
    workingDir: "/",
    uids: [],
    ...over,
  });
  (m as Record<string, unknown>).aliases = { self: { ".": [`case${w.seq++}:1`] } };
  const r = await w.c.addManifest(await signedManifest(w.signer, m));
  if (w.tar) {
    assertEquals(r.missingLayers, [w.layer]);
    await w.c.addBlob({ alg: 2, data: w.tar });
    w.tar = null;
  } else assertEquals(r.missingLayers, []);
  return r.imageId;
}

/** Zombie children of the daemon (its pid and all of its descendants' states). */
async function zombiesOf(ppid: number): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] === "Z" && Number(f[1]) === ppid) n++;
    } catch { /* gone */ }
  }
  return n;
}

/**
 * Each test has a daemon of its own (with a signer, the busybox layer and a plain image), so
 * any one of them runs alone and none depends on what another left.
 */
function containerTest(name: string, fn: (w: World) => Promise<void>): void {
  Deno.test(name, async () => {
    await Deno.writeTextFile("/tmp/acond-victim", "host file\n");
    await Deno.mkdir("/tmp/acond-victim-dir", { recursive: true });
    const w = await setup();
    try {
      w.plain = await image(w, {});
      await fn(w);
    } finally {
      if (!w.stopped) await w.d.stop();
      await Deno.remove("/tmp/acond-victim").catch(() => {});
      await Deno.remove("/tmp/acond-victim-dir", { recursive: true }).catch(() => {});
    }
  });
}

containerTest("Start + Inspect: running, pid 1 inside, uid 0, new session", async (w) => {
  const id = (await w.c.start({ imageId: w.plain })).containerId;
  assert(id >= 2);
  const i = await info(w, id);
  assertEquals(i.running, true);
  assertEquals(i.imageId, w.plain);
  assert(i.state === 83 || i.state === 82, `state ${i.state}`); // 'S' or 'R'
  assertMatch(i.exePath, /^sleep\[\/bin\/busybox\]$/);
  const r = await sh(w, id, "cat /proc/1/comm; id -u; id -g; ps -o pid,comm | wc -l; umask");
  const [comm, uid, gid, nproc, umask] = r.out.trim().split("\n");
  assertEquals(comm, "sleep");
  assertEquals([uid, gid], ["0", "0"]);
  // sleep, sh (Exec), ps, wc and the header: nothing of the host.
  assert(Number(nproc) <= 6, `saw ${nproc} lines of processes`);
  assertEquals(umask, "0077");
  const s = await Deno.readTextFile(`/proc/${i.pid}/stat`);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  assertEquals([Number(f[2]), Number(f[3])], [i.pid, i.pid]); // pgrp, session
  const status = await Deno.readTextFile(`/proc/${i.pid}/status`);
  assertMatch(status, /^NSpid:\s+\d+\s+1$/m);
  assertMatch(status, /^NoNewPrivs:\s+1$/m);
  // Signals reset before exec; no daemon fd leaked (only stdio).
  assertMatch(status, /^SigBlk:\s+0+$/m);
  assertMatch(status, /^SigIgn:\s+0+$/m);
  const fds = [...Deno.readDirSync(`/proc/${i.pid}/fd`)].map((e) => Number(e.name)).sort();
  assertEquals(fds, [0, 1, 2]);
  const hostUid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
  assert(hostUid > 0 && hostUid !== 65534, `host uid ${hostUid}`);
  await w.c.kill({ containerId: id, signalNum: 9 });
  const e = await waitExited(w, id);
  assertEquals([e.wstatus, e.exitSignal, e.state], [9, true, 0]);
});

containerTest("mounts, read-only root, private /run/user", async (w) => {
  const id = (await w.c.start({ imageId: w.plain })).containerId;
  const r = await sh(
    w,
    id,
    "touch /x 2>&1; stat -c '%a %U' /tmp /run /run/user/0; cat /proc/mounts; ls /dev/null",
  );
  assertMatch(r.out, /Read-only file system/);
  assertMatch(r.out, /^1777 root$/m);
  assertMatch(r.out, /^755 root$/m);
  assertMatch(r.out, /^700 root$/m);
  const mounts = r.out.split("\n").filter((l) => / \/(proc|shared|dev|tmp|run) /.test(l));
  assertMatch(mounts.find((l) => / \/proc proc /.test(l)) ?? "", /nosuid,nodev,noexec/);
  assertMatch(mounts.find((l) => / \/shared /.test(l)) ?? "", /nosuid,nodev,noexec/);
  assertMatch(mounts.find((l) => / \/dev /.test(l)) ?? "", /nosuid.*noexec/);
  // Only the container's own mounts (dev mode's /shared is a directory of the host disk).
  const targets = r.out.trim().split("\n").filter((l) => l.split(" ").length === 6).map((l) =>
    l.split(" ")[1]
  );
  for (const m of targets) {
    assert(/^\/(dev|proc|tmp|run|shared)?(\/|$)/.test(m), `unexpected mount ${m}`);
  }
  assertMatch(r.out, /^\/dev\/null$/m);
  await w.c.kill({ containerId: id, signalNum: 9 });
});

containerTest("writableFS: root writable, planted host symlinks untouched", async (w) => {
  const img = await image(w, { writableFS: true });
  const id = (await w.c.start({ imageId: img })).containerId;
  const r = await sh(w, id, "echo x > /newfile && cat /newfile && stat -c %U /etc/marker");
  assertEquals(r.out, "x\nroot\n");
  for (const p of ["/tmp/acond-victim", "/tmp/acond-victim-dir"]) {
    const st = await Deno.stat(p);
    assertEquals([st.uid, st.gid], [0, 0], p);
  }
  await w.c.kill({ containerId: id, signalNum: 9 });
});

containerTest("extra mapped uid: switch to it, own /run/user/<uid>", async (w) => {
  const img = await image(w, { uids: [1000], writableFS: true });
  const id = (await w.c.start({ imageId: img })).containerId;
  const r = await sh(
    w,
    id,
    "stat -c '%a %u' /run/user/1000; su user -s /bin/sh -c 'id -u; touch /run/user/1000/f && echo ok; touch /run/user/0/f 2>&1'; grep NoNewPrivs /proc/1/status; mkdir /s && cp /bin/busybox /s/cat && chown 1000:1000 /s/cat && chmod 4755 /s/cat && /s/cat /proc/self/status | grep ^Uid:",
  );
  const lines = r.out.trim().split("\n");
  assertEquals(lines[0], "700 1000");
  assertEquals(lines[1], "1000");
  assertEquals(lines[2], "ok");
  assertMatch(lines[3], /Permission denied/);
  assertMatch(lines[4], /NoNewPrivs:\s+0/);
  // A set-user-ID program owned by the extra uid gives that uid as the effective one.
  assertMatch(lines[5], /^Uid:\s+0\s+1000\s+1000\s+1000$/);
  await w.c.kill({ containerId: id, signalNum: 9 });
});

containerTest("/shared between containers; private files stay private", async (w) => {
  const a = (await w.c.start({ imageId: w.plain })).containerId;
  const b = (await w.c.start({ imageId: w.plain })).containerId;
  await sh(
    w,
    a,
    "echo secret > /shared/a-private; echo hi > /shared/a-public; chmod 644 /shared/a-public",
  );
  const r = await sh(
    w,
    b,
    "cat /shared/a-public; cat /shared/a-private 2>&1; echo mine > /tmp/t; ls /tmp",
  );
  assertMatch(r.out, /^hi$/m);
  assertMatch(r.out, /a-private'?: Permission denied/);
  const r2 = await sh(w, a, "ls /tmp");
  assertEquals(r2.out, ""); // b's /tmp is its own
  for (const id of [a, b]) await w.c.kill({ containerId: id, signalNum: 9 });
  await sleep(100);
  await Deno.remove(`${w.d.root}/shared/a-private`).catch(() => {});
  await Deno.remove(`${w.d.root}/shared/a-public`).catch(() => {});
});

containerTest(
  "/shared: a Unix socket between containers; a private one refuses",
  async (w) => {
    const logText = async (id: number, until?: string) => {
      let text = "";
      for await (const ch of w.c.logs({ containerId: id, fromStart: true, follow: true })) {
        text += dec(ch.data);
        if (until && text.includes(until)) break;
      }
      return text;
    };
    const pub = await image(w, {
      entrypoint: ["/bin/usock", "serve", "/shared/pub.sock", "666"],
      logFDs: [1],
    });
    const priv = await image(w, {
      entrypoint: ["/bin/usock", "serve", "/shared/priv.sock", "600"],
      logFDs: [1],
      signals: [9],
    });
    const a = (await w.c.start({ imageId: pub })).containerId;
    const p = (await w.c.start({ imageId: priv })).containerId;
    const b = (await w.c.start({ imageId: w.plain })).containerId;
    await logText(a, "listening");
    await logText(p, "listening");
    const sent = await sh(w, b, "usock send /shared/pub.sock hello-from-b; echo rc=$?");
    assertEquals(sent.out, "rc=0\n");
    assertEquals(await logText(a), "listening\nhello-from-b");
    const refused = await sh(w, b, "usock send /shared/priv.sock x; echo rc=$?");
    assertEquals(refused.out, "Permission denied\nrc=2\n");
    for (const id of [p, b]) await w.c.kill({ containerId: id, signalNum: 9 });
    await waitExited(w, p);
    await Deno.remove(`${w.d.root}/shared/pub.sock`).catch(() => {});
    await Deno.remove(`${w.d.root}/shared/priv.sock`).catch(() => {});
  },
);

containerTest("Exec: tail capture, stdin EOF, timeout bound, names", async (w) => {
  const id = (await w.c.start({ imageId: w.plain })).containerId;
  const big = await w.c.exec({
    containerId: id,
    command: "Big",
    arguments: ["3000"],
    timeout: 10n,
    captureSize: 100n,
  });
  assertEquals(big.stdout.length, 100);
  assert(dec(big.stdout).endsWith("line 2999\n"), dec(big.stdout));
  const cat = await w.c.exec({
    containerId: id,
    command: "Cat",
    stdin: enc("hello\n"),
    timeout: 10n,
  });
  assertEquals(dec(cat.stdout), "hello\n");
  const se = await w.c.exec({ containerId: id, command: "Stderr", timeout: 10n });
  assertEquals([dec(se.stdout), dec(se.stderr)], ["out\n", "err\n"]);
  const idr = await w.c.exec({ containerId: id, command: "Id", timeout: 10n });
  assertMatch(dec(idr.stdout), /^uid=0 gid=0 pwd=\/ pid=\d+$/m);
  const t0 = Date.now();
  const [c1] = await code(
    w.c.exec({ containerId: id, command: "Sleep", arguments: ["30"], timeout: 1n }),
  );
  assertEquals(c1, Code.DeadlineExceeded);
  assert(Date.now() - t0 < 10000, "the timeout did not bound the call");
  const ps = await sh(w, id, "ps -o comm | grep -c sleep");
  assertEquals(ps.out.trim(), "2"); // the init and the Exec left running
  for (const name of ["lower", "..", ".", "A/../../bin/sh", "../Echo", ""]) {
    const [cd, msg] = await code(w.c.exec({ containerId: id, command: name, timeout: 5n }));
    assertEquals([cd, msg], [Code.InvalidArgument, "Private entrypoint"], name);
  }
  // Timeout 0: interactive, on a pty that is its controlling terminal; returns at once.
  const it = await w.c.exec({
    containerId: id,
    command: "Sh",
    arguments: ["sleep 3"],
    timeout: 0n,
  });
  assertEquals([it.stdout.length, it.stderr.length], [0, 0]);
  const tty = await sh(
    w,
    id,
    'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = sleep ] && readlink $p/fd/0; done',
  );
  assertMatch(tty.out, /^\/dev\/pts\/\d+$/m);
  // Listed while it runs (Inspect), gone once it exits.
  const listed = (await info(w, id)).sessions;
  assertEquals(listed.length, 1);
  assertEquals(listed[0].command, "Sh");
  assertMatch(listed[0].pty, /^\/dev\/pts\/\d+$/);
  const gone = Date.now() + 10000;
  while ((await info(w, id)).sessions.length > 0) {
    assert(Date.now() < gone, "the interactive session was never unlisted");
    await sleep(100);
  }
  const [c2] = await code(w.c.exec({ containerId: id, command: "Nope", timeout: 5n }));
  assertEquals(c2, Code.NotFound);
  const [c3, m3] = await code(
    w.c.exec({
      containerId: id,
      command: "Cat",
      stdin: new Uint8Array(11),
      captureSize: 10n,
      timeout: 5n,
    }),
  );
  assertEquals([c3, m3], [Code.InvalidArgument, "Stdin buffer size exceeds capture size"]);
  const [c6] = await code(
    w.c.exec({
      containerId: id,
      command: "Echo",
      arguments: Array(300).fill("x"),
      timeout: 5n,
    }),
  );
  assertEquals(c6, Code.InvalidArgument);
  const [c4, m4] = await code(w.c.exec({ containerId: 9999, command: "Cat", timeout: 5n }));
  assertEquals([c4, m4], [Code.InvalidArgument, "Invalid Container ID"]);
  await w.c.kill({ containerId: id, signalNum: 9 });
  await waitExited(w, id);
  const [c5, m5] = await code(w.c.exec({ containerId: id, command: "Cat", timeout: 5n }));
  assertEquals([c5, m5], [Code.FailedPrecondition, "Container terminated"]);
});

containerTest(
  "Kill: listed signals only, sign included; -sig reaches a grandchild",
  async (w) => {
    const img = await image(w, {
      entrypoint: [
        "/bin/sh",
        "-c",
        "(trap - TERM; exec sleep 1000) & echo $! > /tmp/gc; trap '' TERM; while :; do sleep 1; done",
      ],
      signals: [-15, 9],
    });
    const id = (await w.c.start({ imageId: img })).containerId;
    await sleep(200);
    for (const s of [15, -9, 10, 0]) {
      const [cd, msg] = await code(w.c.kill({ containerId: id, signalNum: s }));
      assertEquals([cd, msg], [Code.PermissionDenied, "Signal not allowed"], String(s));
    }
    const alive = "kill -0 $(cat /tmp/gc) 2>/dev/null && echo alive || echo dead";
    assertEquals((await sh(w, id, alive)).out, "alive\n");
    await w.c.kill({ containerId: id, signalNum: -15 });
    await sleep(300);
    assertEquals((await sh(w, id, alive)).out, "dead\n");
    assertEquals((await info(w, id)).running, true); // the init ignores TERM
    await w.c.kill({ containerId: id, signalNum: 9 });
    await waitExited(w, id);
    const [cd, msg] = await code(w.c.kill({ containerId: id, signalNum: 9 }));
    assertEquals([cd, msg], [Code.FailedPrecondition, "Container terminated"]);
  },
);

containerTest("Start env rules through the API (Image.md example 5 and 6)", async (w) => {
  const img = await image(w, {
    entrypoint: ["/bin/env"],
    env: [
      "PATH=/bin",
      "HTTPS_PROXY",
      "HTTPS_PROXY=http://proxy.example.com:80/",
      "ABC=xyz",
      "ABC=uvw",
      "ABC=",
    ],
    logFDs: [1],
  });
  const r1 = (await w.c.start({ imageId: img })).containerId;
  const r2 = (await w.c.start({ imageId: img, envs: ["ABC=", "HTTPS_PROXY=other"] })).containerId;
  const [cd, msg] = await code(w.c.start({ imageId: img, envs: ["ABC=nope"] }));
  assertEquals([cd, msg], [Code.InvalidArgument, "ABC=nope is not in environment array."]);
  await sleep(300);
  const out = async (id: number) => {
    let s = "";
    for await (const ch of w.c.logs({ containerId: id, fromStart: true })) s += dec(ch.data);
    return s;
  };
  const lines = async (id: number) => (await out(id)).trim().split("\n").sort();
  assertEquals(await lines(r1), [
    "ABC=xyz",
    "HTTPS_PROXY=http://proxy.example.com:80/",
    "PATH=/bin",
  ]);
  assertEquals(await lines(r2), ["HTTPS_PROXY=other", "PATH=/bin"]);
});

containerTest(
  "Logs: listed fds captured, followed to the exit; others to /dev/null",
  async (w) => {
    const script = "echo one; echo two >&2; sleep 0.5; echo three";
    const both = await image(w, { entrypoint: ["/bin/sh", "-c", script], logFDs: [1, 2] });
    const only1 = await image(w, { entrypoint: ["/bin/sh", "-c", script], logFDs: [1] });
    const collect = async (imageId: string) => {
      const id = (await w.c.start({ imageId })).containerId;
      const got: [number, string][] = [];
      for await (const ch of w.c.logs({ containerId: id, fromStart: true, follow: true })) {
        for (const line of dec(ch.data).trim().split("\n")) got.push([ch.fd, line]);
      }
      return got.sort((a, b) => a[1].localeCompare(b[1]));
    };
    assertEquals(await collect(both), [[1, "one"], [1, "three"], [2, "two"]]);
    assertEquals(await collect(only1), [[1, "one"], [1, "three"]]);
    const none = (await w.c.start({ imageId: w.plain })).containerId; // no logFDs
    const [cd] = await code((async () => {
      for await (const _ of w.c.logs({ containerId: none })) { /* none */ }
    })());
    assertEquals(cd, Code.FailedPrecondition);
  },
);

containerTest("maxInstances (default 1) and unknown image", async (w) => {
  const img = await image(w, { maxInstances: 1 });
  const a = (await w.c.start({ imageId: img })).containerId;
  const [cd] = await code(w.c.start({ imageId: img }));
  assertEquals(cd, Code.ResourceExhausted);
  await w.c.kill({ containerId: a, signalNum: 9 });
  await waitExited(w, a);
  const b = (await w.c.start({ imageId: img })).containerId;
  // Restarting the exited one would make two instances.
  const [cr] = await code(w.c.restart({ containerId: a, timeout: 5n }));
  assertEquals(cr, Code.ResourceExhausted);
  await w.c.kill({ containerId: b, signalNum: 9 });
  const [c2, m2] = await code(w.c.start({ imageId: "sha384/00/11" }));
  assertEquals([c2, m2], [Code.InvalidArgument, "Invalid Image ID"]);
});

containerTest(
  "Restart: same id, upper dir kept, signals[0] sent, noRestart refused",
  async (w) => {
    const img = await image(w, { writableFS: true, signals: [9] });
    const id = (await w.c.start({ imageId: img })).containerId;
    const nsBefore = (await sh(
      w,
      id,
      "echo kept > /data; echo tmp > /tmp/t; for n in user mnt pid ipc; do readlink /proc/1/ns/$n; done",
    )).out.split("\n");
    const [c0, m0] = await code(w.c.restart({ containerId: id, timeout: 0n }));
    assertEquals([c0, m0], [Code.DeadlineExceeded, "Timeout restarting container"]);
    const pid1 = (await info(w, id)).pid;
    // Hold the old PID and IPC namespaces open across the restart: the kernel reuses a freed
    // namespace's inode number, so a new namespace could otherwise show the old one's.
    const held = ["pid", "ipc"].map((n) => Deno.openSync(`/proc/${pid1}/ns/${n}`));
    const oldNs = ["pid", "ipc"].map((n) => Deno.readLinkSync(`/proc/${pid1}/ns/${n}`));
    assertEquals(oldNs, nsBefore.slice(2, 4));
    await w.c.restart({ containerId: id, timeout: 10n });
    const i = await info(w, id);
    assertEquals(i.running, true);
    assert(i.pid !== pid1);
    const after = (await sh(
      w,
      id,
      "cat /data /tmp/t; for n in user mnt pid ipc; do readlink /proc/1/ns/$n; done; cat /proc/1/comm",
    )).out.split("\n");
    // Image.md: the user and mount namespaces (and /tmp) are kept; PID and IPC are new.
    assertEquals(after.slice(0, 2), ["kept", "tmp"]);
    assertEquals(after.slice(2, 4), nsBefore.slice(0, 2));
    assert(after[4] !== oldNs[0] && after[5] !== oldNs[1], "PID/IPC namespaces kept");
    held.forEach((f) => f.close());
    assertEquals(after[6], "sleep");
    await w.c.kill({ containerId: id, signalNum: 9 });

    const nr = await image(w, {
      noRestart: true,
      entrypoint: ["/bin/sh", "-c", "echo x > /shared/nr-file; exec sleep 1000"],
    });
    const n = (await w.c.start({ imageId: nr })).containerId;
    await sleep(200);
    assert(await Deno.stat(`${w.d.root}/shared/nr-file`).then(() => true, () => false));
    const [c1, m1] = await code(w.c.restart({ containerId: n, timeout: 5n }));
    assertEquals([c1, m1], [Code.PermissionDenied, "Restarting container not allowed"]);
    await w.c.kill({ containerId: n, signalNum: 9 });
    await waitExited(w, n);
    await sleep(100);
    assertEquals(
      await Deno.stat(`${w.d.root}/containers/${n}`).then(() => true, () => false),
      false,
    );
    assertEquals(
      await Deno.stat(`${w.d.root}/shared/nr-file`).then(() => true, () => false),
      false,
    );
  },
);

containerTest("Watch reports start and exit; faults leave the daemon healthy", async (w) => {
  const ac = new AbortController();
  const events: {
    kind: Event_Kind;
    containerId: number;
    wstatus: number;
    exitSignal: boolean;
  }[] = [];
  let stopAt = -1; // the container whose exit ends the watch
  const watching = (async () => {
    try {
      for await (const e of w.c.watch({}, { signal: ac.signal })) {
        events.push(e);
        if (e.kind === Event_Kind.CONTAINER_EXITED && e.containerId === stopAt) break;
      }
    } catch { /* aborted */ }
  })();
  await sleep(100);
  // A real fault (stack overflow): a pidns init ignores signals it sends itself.
  const crash = await image(w, {
    entrypoint: ["/bin/sh", "-c", "ulimit -s 256; f() { f; }; f"],
  });
  const quick = await image(w, { entrypoint: ["/bin/sh", "-c", "exit 7"] });
  const missing = await image(w, { entrypoint: ["/bin/does-not-exist"] });
  const forker = await image(w, {
    entrypoint: [
      "/bin/sh",
      "-c",
      "i=0; while [ $i -lt 100 ]; do sleep 0.2 & i=$((i+1)); done; exit 3",
    ],
  });
  const c1 = (await w.c.start({ imageId: crash })).containerId;
  const c2 = (await w.c.start({ imageId: quick })).containerId;
  const [cm, mm] = await code(w.c.start({ imageId: missing }));
  assertEquals(cm, Code.FailedPrecondition);
  assertMatch(mm, /does-not-exist.*ENOENT/);
  const c3 = (await w.c.start({ imageId: forker })).containerId;
  const e1 = await waitExited(w, c1);
  assertEquals([e1.wstatus, e1.exitSignal], [11, true]);
  const e2 = await waitExited(w, c2);
  assertEquals([e2.wstatus, e2.exitSignal], [7, false]);
  const e3 = await waitExited(w, c3);
  assertEquals([e3.wstatus, e3.exitSignal], [3, false]);
  // Kill racing a Start: an id that does not exist yet, then the one just made.
  const racing = w.c.start({ imageId: w.plain });
  // Either refused as unknown (Start not done) or delivered; never anything else.
  const killed = await w.c.kill({ containerId: c3 + 1, signalNum: 9 }).then(
    () => "delivered",
    (e) => e instanceof ConnectError ? e.rawMessage : String(e),
  );
  assert(["delivered", "Invalid Container ID"].includes(killed), killed);
  const r = (await racing).containerId;
  stopAt = r;
  await w.c.kill({ containerId: r, signalNum: 9 });
  await waitExited(w, r);
  await sleep(1500); // the safety poll
  assertEquals(await zombiesOf(w.d.proc.pid), 0);
  await watching;
  ac.abort();
  const started = events.filter((e) => e.kind === Event_Kind.CONTAINER_STARTED).map((e) =>
    e.containerId
  );
  const exited = events.filter((e) => e.kind === Event_Kind.CONTAINER_EXITED);
  assert(started.includes(c1) && started.includes(c3), JSON.stringify(started));
  assertEquals(exited.find((e) => e.containerId === c2)?.wstatus, 7);
  assertEquals((await w.c.health({})).version.length > 0, true);
});

containerTest("200 rapid start/exit cycles: every status right, nothing left", async (w) => {
  const imgs: string[] = [];
  for (let k = 0; k < 4; k++) {
    imgs.push(
      await image(w, { noRestart: true, entrypoint: ["/bin/sh", "-c", `exit ${k * 50 + 1}`] }),
    );
  }
  const ids: [number, number][] = [];
  for (let i = 0; i < 200; i++) {
    const k = i % 4;
    ids.push([(await w.c.start({ imageId: imgs[k] })).containerId, k * 50 + 1]);
  }
  for (const [id, want] of ids) {
    const e = await waitExited(w, id);
    assertEquals([e.wstatus, e.exitSignal], [want, false], `container ${id}`);
  }
  const all = await w.c.inspect({ containerId: 0 });
  const seen = all.info.map((i) => i.containerId);
  assertEquals(seen, [...seen].sort((a, b) => a - b));
  await sleep(1200);
  assertEquals(await zombiesOf(w.d.proc.pid), 0);
  const left = [...Deno.readDirSync(`${w.d.root}/containers`)].map((e) => e.name);
  for (const [id] of ids) assert(!left.includes(String(id)), `dir of ${id} left`);
});
containerTest("daemon shutdown stops containers and unmounts their roots", async (w) => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await w.c.start({ imageId: w.plain })).containerId);
  const pids = (await w.c.inspect({ containerId: 0 })).info.filter((i) => i.running).map((
    i,
  ) => i.pid);
  assert(pids.length >= 3);
  const root = w.d.root;
  w.stopped = true;
  await w.d.stop();
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  assert(!mounts.includes(root), `a container root is still mounted\n${w.d.stderr()}`);
  for (const pid of pids) {
    assertEquals(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
  }
});
