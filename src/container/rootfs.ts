/**
 * A container's root: the overlay of its image's layers under `containers/top` (the mount points)
 * and, with writableFS, an upper directory owned by the container root. Mounted in the daemon's
 * mount namespace; the container's own namespace copies it.
 */
import { MNT_DETACH, MS } from "../sys/mod.ts";
import { log } from "../util/log.ts";
import { overlayOptions } from "./overlay.ts";
import type { Registry } from "./registry.ts";
import type { Container } from "./types.ts";

export function rootfsOf(reg: Registry, c: Container): string {
  return `${reg.deps.layout.containerDir(c.id)}/rootfs`;
}

/** Mounts the overlay root at rootfs/ (nosuid unless the manifest maps extra uids). */
export async function mountRoot(reg: Registry, c: Container, nosuid: boolean): Promise<void> {
  const { sys, layout } = reg.deps;
  const m = c.image.manifest;
  const dir = layout.containerDir(c.id);
  const layers = m.layers.map((_, i) => `${layout.imageDir(c.imageId)}/l/${i}`);
  let upper: string | undefined, work: string | undefined;
  if (m.writableFS) {
    upper = `${dir}/upper`;
    work = `${dir}/work`;
    // upper/'s root is the container's `/`: 0755 like any root directory.
    await sys.mkdir(upper, 0o755);
    await sys.mkdir(work, 0o700);
    // The root of the merged tree is the upper dir's root: make it the container root's.
    sys.lchown(upper, c.hostUid, c.hostUid);
  }
  await reg.deps.ensureModule("overlay"); // PID 1 loads it on first use (init/module_loader.ts)
  sys.mount(
    "overlay",
    rootfsOf(reg, c),
    "overlay",
    MS.NODEV | (nosuid ? MS.NOSUID : 0),
    overlayOptions({ top: reg.topDir, layers, upper, work }),
  );
}

/** Detaches the daemon's copy of the root; false (logged) if it is still mounted. */
export function unmountRoot(reg: Registry, c: Container): boolean {
  try {
    reg.deps.sys.umount(rootfsOf(reg, c), MNT_DETACH);
    return true;
  } catch (e) {
    log.warn(`container ${c.id}: unmount root: ${(e as Error).message}`);
    return false;
  }
}

/**
 * writableFS: the layers' files are owned by host root; make the container root own its tree
 * (copied up into upper/). lchown only, never following a symlink, and it descends only into
 * real directories, so an image cannot point it at a host path. Runs before the container
 * exists, so nothing can swap a directory for a link during the walk.
 */
export async function chownTree(reg: Registry, dir: string, uid: number): Promise<void> {
  const { sys } = reg.deps;
  sys.lchown(dir, uid, uid);
  for await (const e of sys.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    try {
      sys.lchown(p, uid, uid);
    } catch (err) {
      log.debug(`chown ${p}: ${(err as Error).message}`);
    }
    if (e.isDirectory && !e.isSymlink) await chownTree(reg, p, uid);
  }
}
