/**
 * Errors keep their context (docs/errors.md): a failure deep in a Start reaches the log as
 * "start container 5: mount overlay: mount …: EPERM", while the client gets exactly what it got
 * before (the first error under the context layers decides the message and the Connect code).
 */
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
import { STEP } from "../../src/sys/abi.ts";
import { harness, ROOT } from "../fakes/containers.ts";

const lines: string[] = [];
addLogSink((_level, line) => lines.push(line));

/** A harness over the fake kernel whose next container id is 5 (ids 2-4 are used up). */
async function atFive() {
  const h = harness();
  const img = h.image({ entrypoint: ["/bin/app"], logFDs: [] });
  for (let i = 0; i < 3; i++) {
    const id = await h.svc.start(h.image({ logFDs: [] }), []);
    h.sys.exit((await h.svc.inspect(id))[0].pid, 0);
  }
  await h.settle();
  return { h, img };
}

Deno.test("a failed mount: the log has the whole chain, the client today's message", async () => {
  const { h, img } = await atFive();
  h.sys.failOn("mount", 1, ERRNO.EPERM);
  const e = await h.svc.start(img, []).then(() => null, (x) => x);
  const rootfs = `${ROOT}/containers/5/rootfs`;
  // The context layers and, under them, the kernel's error itself.
  assertEquals(e instanceof ContextError, true, String(e));
  assertEquals((e as Error).message, `start container 5: mount overlay: mount ${rootfs}: EPERM`);
  const root = unwrapContext(e);
  assertEquals(root instanceof SysError && [root.errnoName, root.syscall], ["EPERM", "mount"]);
  assertEquals(h.sys.under(`${ROOT}/containers/5`), [], "nothing stays");
  lines.length = 0;
  const ce = toConnectError(e, "Start");
  assertEquals([ce.code, ce.rawMessage], [Code.Internal, "System error, errno: EPERM"]);
  assertEquals(lines, [
    `acond[warn] Start: start container 5: mount overlay: mount ${rootfs}: EPERM`,
  ]);
});

Deno.test("a domain error under context layers keeps its message and code", async () => {
  const { h, img } = await atFive();
  h.sys.failOn("spawnContainer", 1, ERRNO.ENOENT, STEP.EXEC);
  const e = await h.svc.start(img, []).then(() => null, (x) => x);
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
