/**
 * AddManifest on a nearly full state directory (issue 10 item 11, the stress check
 * `enospc-manifest`): on a small tmpfs with exactly N pages free (N = 0..8), every write of the
 * AddManifest path (staging, the event log, the store) either fits or answers resource_exhausted
 * saying what is full and what to do, never `Unexpected error`; a refused manifest leaves no
 * image, no staging directory and no log line, the log file still replays to RTMR3; once there
 * is space the same manifest goes in. (The event log's write-ahead file used to take one page
 * more than staging: with two pages free its ENOSPC escaped unmapped.)
 */
import { assert, assertEquals, assertMatch } from "../../helpers/assert.ts";
import { makeSigner } from "../../helpers/pki.ts";
import { baseManifest, signedManifest } from "../../helpers/image.ts";
import { ImageService } from "../../../src/image/service.ts";
import type { Context } from "../../../src/context.ts";
import type { Options } from "../../../src/options.ts";
import { EventLog, replay } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { EventBus } from "../../../src/events.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { Layout } from "../../../src/layout.ts";
import { toHex } from "../../../src/digest.ts";
import { AcondError, unwrapContext } from "../../../src/errors.ts";

const PAGE = 4096;

async function run(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Fills the file system at `mnt` so that exactly `pages` pages are free. */
function leaveFree(mnt: string, pages: number): void {
  for (let i = 0; i < pages; i++) Deno.writeFileSync(`${mnt}/spare-${i}`, new Uint8Array(PAGE));
  const f = Deno.openSync(`${mnt}/filler`, { write: true, create: true, append: true });
  try {
    for (const size of [1 << 20, PAGE]) {
      const chunk = new Uint8Array(size);
      try {
        for (;;) f.writeSync(chunk);
      } catch (e) {
        if (!/No space left|os error 28/.test((e as Error).message)) throw e;
      }
    }
  } finally {
    f.close();
  }
  for (let i = 0; i < pages; i++) Deno.removeSync(`${mnt}/spare-${i}`);
}

function freeUp(mnt: string): void {
  Deno.removeSync(`${mnt}/filler`);
}

/** A sha512 layer digest: its content alias link's target is longer than tmpfs keeps inline. */
const L512 = `sha512/${"ab".repeat(64)}`;

for (
  const [kind, over] of [
    ["ec-p384", {}],
    // sha512 IDs: the self alias links' targets (the manifest digest) and the content alias
    // link's take a page each on tmpfs (they were made after the measurement).
    ["ed25519", { aliases: { self: { ".": ["A:1", "B:1"] }, contents: { [L512]: ["C:1"] } } }],
  ] as const
) {
  Deno.test(`AddManifest (${kind}) with 0..8 pages free: success or resource_exhausted, never half state`, async () => {
    const mnt = await Deno.makeTempDir({ prefix: "acond-enospc-unit-" });
    await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt]);
    try {
      const signer = await makeSigner(kind);
      const refused: string[] = [];
      for (let pages = 0; pages <= 8; pages++) {
        const root = `${mnt}/root${pages}`;
        const tee = new SimTee();
        const eventLog = new EventLog(`${root}/rtmr/rtmr3.log`, tee);
        const ctx: Context = {
          opts: { root, minHash: "sha384" } as Options,
          tee,
          eventLog,
          events: new EventBus(),
          lock: new Mutex(),
          state: { finalized: false, images: new Map(), containers: new Map() },
          startedAt: Date.now(),
          layout: new Layout(root),
        };
        const svc = new ImageService(ctx, { imageAdded() {}, finalized() {} }, 65534);
        // A measured boot-like line first: the log exists, as in the daemon.
        await eventLog.measure("acond Boot {}");
        const m = await signedManifest(signer, baseManifest({ ...over, workingDir: `/w${pages}` }));
        leaveFree(mnt, pages);
        // What a client is told: the error under the context layers (docs/errors.md).
        const e = await svc.addManifest(m).then(() => null, (e) => unwrapContext(e));
        const log = () => Deno.readTextFileSync(`${root}/rtmr/rtmr3.log`);
        if (e !== null) {
          assert(e instanceof AcondError, `${pages} pages free: ${e}`);
          assertEquals(e.code, "resource_exhausted", `${pages} pages free: ${e.message}`);
          assertMatch(e.message, /^No space left for .* \(ENOSPC\).*free space/);
          refused.push(`${pages}: ${e.message}`);
          assertEquals(ctx.state.images.size, 0);
          assertEquals([...Deno.readDirSync(`${root}/tmp`)].map((x) => x.name), []);
        }
        // Whatever the answer, the file is the log, and the log replays to RTMR3.
        assertEquals(log(), eventLog.lines.map((l) => `${l}\n`).join(""));
        assertEquals(toHex(replay(eventLog.lines)), toHex(await tee.readRtmr(3)));
        assertEquals(eventLog.lines.length, e === null ? 3 : 2);
        assertEquals(eventLog.broken, null);
        freeUp(mnt);
        const r = await svc.addManifest(m);
        assertEquals(ctx.state.images.has(r.imageId), true);
        assertEquals(toHex(replay(eventLog.lines)), toHex(await tee.readRtmr(3)));
        assertEquals(log(), eventLog.lines.map((l) => `${l}\n`).join(""));
      }
      // The sweep did reach the full disk (0 pages is always refused).
      assertMatch(refused[0] ?? "", /^0: /);
    } finally {
      await run("umount", [mnt]).catch(() => run("umount", ["-l", mnt]));
      await Deno.remove(mnt, { recursive: true }).catch(() => {});
    }
  });
}

Deno.test("the event log on a full disk: resource_exhausted, nothing measured, nothing left in the file", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "acond-enospc-unit-" });
  await run("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt]);
  try {
    const tee = new SimTee();
    const l = new EventLog(`${mnt}/rtmr/rtmr3.log`, tee);
    await l.open();
    leaveFree(mnt, 0);
    const e = await l.measure("x A 1").then(() => null, (e) => e);
    assert(e instanceof AcondError, String(e));
    assertEquals(e.code, "resource_exhausted");
    assertMatch(e.message, /No space left for the event log .* nothing was measured/);
    assertEquals(l.lines, []);
    assertEquals(toHex(await tee.readRtmr(3)), "0".repeat(96));
    assertEquals(Deno.readTextFileSync(`${mnt}/rtmr/rtmr3.log`), "");
    assertEquals(l.broken, null);
    freeUp(mnt);
    await l.measure("x A 1");
    assertEquals(l.lines.length, 2);
    assertEquals(toHex(replay(l.lines)), toHex(await tee.readRtmr(3)));
  } finally {
    await run("umount", [mnt]).catch(() => run("umount", ["-l", mnt]));
    await Deno.remove(mnt, { recursive: true }).catch(() => {});
  }
});
