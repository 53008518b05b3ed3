/**
 * Errors keep their context (docs/errors.md): a failure deep in a Start reaches the log as
 * "start container 5: mount overlay: mount …: EPERM", while the client gets exactly what it got
 * before (the first error under the context layers decides the message and the Connect code).
 */
import { Cgroups, DEFAULT_LIMITS } from "../../src/container/cgroup.ts";
import { assertEquals } from "../helpers/assert.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AcondError,
  ContextError,
  errorChain,
  invalid,
  unwrapContext,
  withContext,
  wrapError,
} from "../../src/errors.ts";
import { toConnectError } from "../../src/api/errors.ts";
import { addLogSink } from "../../src/util/log.ts";
import { ERRNO, SysError } from "../../src/sys/errors.ts";
import { SpawnError, type Sys } from "../../src/sys/mod.ts";
import { Registry } from "../../src/container/registry.ts";
import type { ContainerDeps } from "../../src/container/deps.ts";
import { start } from "../../src/container/start.ts";
import { Layout } from "../../src/layout.ts";
import { Mutex } from "../../src/util/mutex.ts";
import { EventBus } from "../../src/events.ts";
import type { LoadedImage, Manifest } from "../../src/state.ts";

const lines: string[] = [];
addLogSink((_level, line) => lines.push(line));

/** A Sys whose listed calls are given; any other call fails the test loudly. */
function fakeSys(calls: Partial<Sys>): Sys {
  return new Proxy(calls as Sys, {
    get(target, name) {
      const f = (target as unknown as Record<string | symbol, unknown>)[name];
      if (f) return f;
      return () => {
        throw new Error(`fake Sys: unexpected call ${String(name)}`);
      };
    },
  });
}

const IMAGE_ID = "sha384/aa/bb";
const ROOT = "/nonexistent/acond";

function image(): LoadedImage {
  const manifest: Manifest = {
    aconSpecVersion: [1, 0],
    layers: ["sha384/" + "0".repeat(96)],
    aliases: { contents: {}, self: {} },
    entrypoint: ["/bin/app"],
    env: [],
    workingDir: "/",
    uids: [],
    logFDs: [],
    writableFS: false,
    noRestart: false,
    signals: [],
    maxInstances: 0,
    policy: { accepts: [], rejectUnaccepted: false },
  };
  return {
    id: IMAGE_ID,
    alg: "sha384",
    signerDigest: "aa",
    manifestDigest: "bb",
    manifest,
    raw: new Uint8Array(),
    certificate: new Uint8Array(),
  };
}

/** A registry whose next container id is 5, over a fake kernel. */
function registry(sys: Sys): { reg: Registry; removed: string[] } {
  const removed: string[] = [];
  const base = fakeSys({
    stat: () => Promise.resolve({ isDirectory: true, isSocket: false, uid: 0 }),
    mkdir: () => Promise.resolve(),
    remove: (p) => {
      removed.push(p);
      return Promise.resolve();
    },
  });
  const deps: ContainerDeps = {
    sys: new Proxy(sys, {
      get: (t, n) => (n in t ? t[n as keyof Sys] : base[n as keyof Sys]),
    }),
    procRoot: "/nonexistent/proc",
    reaper: {
      start() {},
      async spawn(create) {
        return { pid: await create(), exit: new Promise(() => {}) };
      },
    },
    fds: { watch() {}, unwatch() {} },
    layout: new Layout(ROOT),
    lock: new Mutex(),
    state: { finalized: false, images: new Map([[IMAGE_ID, image()]]), containers: new Map() },
    events: new EventBus(),
    pid1: false,
    sharedDir: `${ROOT}/shared`,
    ensureModule: () => Promise.resolve(),
    attestSockets: { open: () => Promise.resolve(""), close: () => Promise.resolve() },
    cgroups: new Cgroups(sys, null, DEFAULT_LIMITS, []),
    limitPollMs: 0,
  };
  const reg = new Registry(deps, 65534);
  for (let i = 0; i < 3; i++) reg.ids.next(); // 2, 3, 4: the next container is 5
  return { reg, removed };
}

Deno.test("a failed mount: the log has the whole chain, the client today's message", async () => {
  const mounts: string[] = [];
  const { reg, removed } = registry(fakeSys({
    mount(_source, target) {
      mounts.push(target);
      throw new SysError(ERRNO.EPERM, "mount", target);
    },
  }));
  const e = await start(reg, IMAGE_ID, []).then(() => null, (x) => x);
  const rootfs = `${ROOT}/containers/5/rootfs`;
  assertEquals(mounts, [rootfs]);
  // The context layers and, under them, the kernel's error itself.
  assertEquals(e instanceof ContextError, true, String(e));
  assertEquals((e as Error).message, `start container 5: mount overlay: mount ${rootfs}: EPERM`);
  const root = unwrapContext(e);
  assertEquals(root instanceof SysError && [root.errnoName, root.syscall], ["EPERM", "mount"]);
  assertEquals(removed, [`${ROOT}/containers/5`]); // nothing stays
  lines.length = 0;
  const ce = toConnectError(e, "Start");
  assertEquals([ce.code, ce.rawMessage], [Code.Internal, "System error, errno: EPERM"]);
  assertEquals(lines, [
    `acond[warn] Start: start container 5: mount overlay: mount ${rootfs}: EPERM`,
  ]);
});

Deno.test("a domain error under context layers keeps its message and code", async () => {
  let execve = 0;
  while (new SpawnError(ERRNO.ENOENT, execve).step !== "execve") execve++;
  const { reg } = registry(fakeSys({
    mount() {},
    umount() {},
    openFd: () => 9,
    close() {},
    spawnContainer: () => Promise.reject(new SpawnError(ERRNO.ENOENT, execve)),
  }));
  const e = await start(reg, IMAGE_ID, []).then(() => null, (x) => x);
  assertEquals(e instanceof ContextError, true, String(e));
  const msg = "Cannot execute entry point /bin/app: ENOENT";
  assertEquals(errorChain(e), `start container 5: ${msg}: spawn (execve): ENOENT`);
  lines.length = 0;
  const ce = toConnectError(e, "Start");
  assertEquals([ce.code, ce.rawMessage], [Code.FailedPrecondition, msg]);
  assertEquals(lines, []); // a domain error is the client's business, not the log's
});

Deno.test("withContext: sync and async, value passed through, cause kept", async () => {
  assertEquals(withContext("a", () => 1), 1);
  assertEquals(await withContext("a", () => Promise.resolve(2)), 2);
  const inner = new SysError(ERRNO.ENOSPC, "write", "/x");
  const sync = (() => {
    try {
      withContext("outer", () =>
        withContext("inner", () => {
          throw inner;
        }));
    } catch (e) {
      return e;
    }
    return null;
  })();
  assertEquals((sync as Error).message, "outer: inner: write /x: ENOSPC");
  assertEquals(((sync as Error).cause as Error).cause, inner);
  assertEquals(unwrapContext(sync), inner);
  const async = await withContext("outer", () => Promise.reject(inner)).catch((e) => e);
  assertEquals([async.message, unwrapContext(async)], ["outer: write /x: ENOSPC", inner]);
  assertEquals(wrapError("text", "what").message, "what: text");
});

Deno.test("the mapper: the first error under the context layers decides, as before", () => {
  lines.length = 0;
  const cases: [unknown, Code, string][] = [
    [invalid("Invalid Image ID"), Code.InvalidArgument, "Invalid Image ID"],
    [wrapError(invalid("Invalid Image ID"), "x"), Code.InvalidArgument, "Invalid Image ID"],
    // An AcondError that wraps another has translated it: the outer one is what is sent.
    [
      wrapError(new AcondError("not_found", "No entry point x", { cause: invalid("inner") }), "y"),
      Code.NotFound,
      "No entry point x",
    ],
    [new SysError(ERRNO.EIO, "read"), Code.Internal, "System error, errno: EIO"],
    [wrapError(new Error("boom"), "z"), Code.Internal, "Unexpected error"],
    // A plain Error's cause is not looked through: it was never a context layer.
    [new Error("boom", { cause: new SysError(1, "mount") }), Code.Internal, "Unexpected error"],
    [wrapError(new ConnectError("as is", Code.Aborted), "w"), Code.Aborted, "as is"],
  ];
  for (const [e, code, msg] of cases) {
    const ce = toConnectError(e, "M");
    assertEquals([ce.code, ce.rawMessage], [code, msg], String(e));
  }
  assertEquals(lines[0], "acond[warn] M: read: EIO");
  assertEquals(lines[1].startsWith("acond[error] M: unexpected z: boom\nError: boom"), true);
});
