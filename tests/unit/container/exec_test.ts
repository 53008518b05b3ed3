/** Exec's mode rules over the fake kernel: a pty (timeout 0) only in interactive mode. */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { harness } from "../../fakes/containers.ts";
import { AcondError } from "../../../src/errors.ts";

const req = (containerId: number, timeoutSec: number) => ({
  containerId,
  command: "Echo",
  arguments: [],
  envs: [],
  stdin: new Uint8Array(),
  timeoutSec,
  captureSize: 0,
});

Deno.test("pty Exec with interactive mode off: FailedPrecondition, nothing created", async () => {
  const h = harness({ interactive: false });
  const id = await h.svc.start(h.image(), []);
  await h.settle();
  const before = h.snapshot();
  const spawns = h.sys.kinds().filter((k) => k === "spawnInContainer").length;
  const e = await h.svc.exec(req(id, 0)).then(() => null, (x) => x);
  assert(e instanceof AcondError, String(e));
  assertEquals(e.code, "failed_precondition");
  assert(/^interactive mode is off: /.test(e.message), e.message);
  assertEquals(h.sys.kinds().filter((k) => k === "spawnInContainer").length, spawns);
  assertEquals(h.sys.kinds().includes("openPty"), false);
  assertEquals(h.snapshot(), before);
});

Deno.test("pty Exec with interactive mode on: a session", async () => {
  const h = harness({ interactive: true });
  const id = await h.svc.start(h.image(), []);
  await h.settle();
  const out = await h.svc.exec(req(id, 0));
  assertEquals(h.hub.sessions(id).map((s) => s.session), [out.session]);
  assertEquals((await h.svc.inspect(id))[0].sessions.map((s) => s.session), [out.session]);
});
