/**
 * A full state directory (issue 10 item 11): the dev daemon on a small tmpfs, filled up; AddManifest
 * then answers resource_exhausted saying what did not fit (it answered `Unexpected error`), leaves
 * no staging directory and no state behind, and works again once there is space.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Writes zeros to `path` until the file system is full. */
async function fill(path: string): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) await f.write(chunk);
  } catch (e) {
    if (!/No space left|os error 28/.test((e as Error).message)) throw e;
  } finally {
    f.close();
  }
}

Deno.test("AddManifest on a full state directory: resource_exhausted, nothing left behind", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "acond-tmpfs-" });
  await sh("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt]);
  let d: Awaited<ReturnType<typeof startDaemon>> | null = null;
  try {
    d = await startDaemon({ args: ["--root", `${mnt}/root`] });
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const manifest = (n: number) =>
      signedManifest(signer, baseManifest({ entrypoint: ["/bin/sh"], workingDir: `/w${n}` }));
    const m1 = await manifest(1);
    await fill(`${mnt}/fill`);
    let err: unknown = null;
    try {
      await c.addManifest(m1);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof ConnectError)) throw new Error(`expected a Connect error, got ${err}`);
    assertEquals(err.code, Code.ResourceExhausted);
    assertMatch(err.rawMessage, /No space left for the image in the state directory \(ENOSPC\)/);
    assertEquals((await c.health({})).images, 0);
    const tmp = [...Deno.readDirSync(`${mnt}/root/tmp`)].map((e) => e.name);
    assertEquals(tmp.filter((n) => n.startsWith("image-")), []);
    // Space again: the same manifest goes in.
    await Deno.remove(`${mnt}/fill`);
    const r = await c.addManifest(m1);
    assertMatch(r.imageId, /^sha384\//);
  } finally {
    await d?.stop();
    await sh("umount", [mnt]).catch(() => sh("umount", ["-l", mnt]));
    await Deno.remove(mnt, { recursive: true }).catch(() => {});
  }
});
