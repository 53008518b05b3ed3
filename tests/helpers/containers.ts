/**
 * A dev daemon with a busybox image ready (for integration tests of containers): a signer, the
 * busybox layer (uploaded with the first manifest that names it), and small call helpers.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals } from "./assert.ts";
import { type AconClient, type DaemonOptions, type DevDaemon, startDaemon } from "./daemon.ts";
import { makeSigner, type Signer } from "./pki.ts";
import { baseManifest, signedManifest } from "./image.ts";
import { buildRootfs, sha384hex, tarOf } from "./busybox.ts";

export const dec = (b: Uint8Array) => new TextDecoder().decode(b);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface World {
  d: DevDaemon;
  c: AconClient;
  signer: Signer;
  layer: string;
  seq: number;
  /** The layer's tar, until the daemon has it (AddBlob after the first manifest naming it). */
  tar: Uint8Array | null;
}

/** A daemon and the busybox layer (not yet uploaded). */
export async function world(o: DaemonOptions = {}, files: Record<string, [number, string]> = {}) {
  const src = await Deno.makeTempDir({ prefix: "bb-rootfs-" });
  await buildRootfs(src, files);
  const tar = await tarOf(src);
  await Deno.remove(src, { recursive: true });
  const d = await startDaemon(o);
  return {
    d,
    c: d.client(),
    signer: await makeSigner("ec-p384"),
    layer: `sha384/${await sha384hex(tar)}`,
    seq: 0,
    tar,
  } as World;
}

/** Loads an image of the busybox layer (sleep 1000 unless `over` says otherwise). */
export async function image(w: World, over: Record<string, unknown> = {}): Promise<string> {
  const m = baseManifest({
    layers: [w.layer],
    entrypoint: ["/bin/sleep", "1000"],
    env: ["PATH=/bin"],
    signals: [9, -9, 15, -15],
    maxInstances: 0,
    workingDir: "/",
    uids: [],
    ...over,
  });
  (m as Record<string, unknown>).aliases = { self: { ".": [`case${w.seq++}:1`] } };
  const r = await w.c.addManifest(await signedManifest(w.signer, m));
  if (r.missingLayers.length) {
    assertEquals(r.missingLayers, [w.layer]);
    await w.c.addBlob({ alg: 2, data: w.tar! });
  }
  return r.imageId;
}

/** The Connect code and message a call fails with (throws if it succeeds). */
export async function code(p: Promise<unknown>): Promise<[Code, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return [e.code, e.rawMessage];
    throw e;
  }
  throw new Error("expected an error");
}

/** Exec of the image's `Sh` entry point (sh -c SCRIPT), batch, with a timeout. */
export async function sh(w: World, id: number, script: string, timeout = 10) {
  const r = await w.c.exec({
    containerId: id,
    command: "Sh",
    arguments: [script],
    envs: ["PATH=/bin"],
    timeout: BigInt(timeout),
  });
  return { out: dec(r.stdout), err: dec(r.stderr) };
}

export async function info(w: World, id: number) {
  return (await w.c.inspect({ containerId: id })).info[0];
}

/** Polls Inspect until the container has exited (a bound, not a timed assertion). */
export async function waitExited(w: World, id: number, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const i = await info(w, id);
    if (!i.running) return i;
    if (Date.now() > end) throw new Error(`container ${id} still running`);
    await sleep(20);
  }
}

/** A test with its own daemon (options `o`), stopped however the test ends. */
export function worldTest(
  name: string,
  fn: (w: World) => Promise<void>,
  o: DaemonOptions = {},
): void {
  Deno.test(name, async () => {
    const w = await world(o);
    try {
      await fn(w);
    } finally {
      await w.d.stop();
    }
  });
}
