/** Start-up recovery's reading of mountinfo: whose root is an old container, which mounts go. */
import { assertEquals } from "../../helpers/assert.ts";
import { isContainerRoot, mountsUnder } from "../../../src/container/recover.ts";

const C = "/st ate/containers"; // a root with a space: mountinfo writes it as \040
const line = (id: number, mp: string, fs: string, opts: string) =>
  `${id} 1 0:${id} / ${mp} rw,relatime - ${fs} ${fs} ${opts}`;

Deno.test("recovery: a process whose / is this root's container overlay, and only that", () => {
  const mine = line(1, "/", "overlay", "ro,lowerdir=/st\\040ate/containers/top:/st\\040ate/l/0");
  assertEquals(isContainerRoot(mine, C), true);
  // Another daemon's root, a host process that merely sees the mount, a non-overlay root.
  assertEquals(
    isContainerRoot(line(1, "/", "overlay", "lowerdir=/other/containers/top"), C),
    false,
  );
  const host = [
    line(1, "/", "ext4", "rw"),
    line(2, "/st\\040ate/containers/2/rootfs", "overlay", "lowerdir=/st\\040ate/containers/top"),
  ].join("\n");
  assertEquals(isContainerRoot(host, C), false);
});

Deno.test("recovery: the mounts under containers/, deepest first, unescaped", () => {
  const info = [
    line(1, "/", "ext4", "rw"),
    line(2, "/st\\040ate/containers/2/rootfs", "overlay", "x"),
    line(3, "/st\\040ate/containers/2/rootfs/proc", "proc", "x"),
    line(4, "/st\\040ate/containersX/9", "tmpfs", "x"),
    line(5, "/st\\040ate/shared", "tmpfs", "x"),
  ].join("\n");
  assertEquals(mountsUnder(info, C), [`${C}/2/rootfs/proc`, `${C}/2/rootfs`]);
});
