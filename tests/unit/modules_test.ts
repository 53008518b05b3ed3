import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  finitFlags,
  moduleName,
  parseLoadList,
  parseModuleIndex,
  resolveModules,
} from "../../src/init/modules.ts";

// Lines as depmod writes them for Debian's 6.12 cloud kernel.
const DEP = `kernel/drivers/misc/pvpanic/pvpanic.ko.xz:
kernel/drivers/misc/pvpanic/pvpanic-pci.ko.xz: kernel/drivers/misc/pvpanic/pvpanic.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/drivers/virt/coco/tdx-guest/tdx-guest.ko.xz: kernel/drivers/virt/coco/tsm.ko.xz kernel/fs/configfs/configfs.ko.xz
kernel/drivers/virt/coco/tsm.ko.xz: kernel/fs/configfs/configfs.ko.xz
kernel/fs/configfs/configfs.ko.xz:
kernel/fs/overlayfs/overlay.ko.xz:
kernel/x/a.ko: kernel/x/b.ko
kernel/x/b.ko: kernel/x/a.ko
`;
const BUILTIN = "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n";

Deno.test("dependencies come first, each module once, built-ins skipped", () => {
  const idx = parseModuleIndex(DEP, BUILTIN);
  assertEquals(
    resolveModules(idx, ["virtio_pci", "virtio-net", "tdx_guest", "tsm", "pvpanic-pci"]),
    [
      "kernel/net/core/failover.ko.xz",
      "kernel/drivers/net/net_failover.ko.xz",
      "kernel/drivers/net/virtio_net.ko.xz",
      "kernel/fs/configfs/configfs.ko.xz",
      "kernel/drivers/virt/coco/tsm.ko.xz",
      "kernel/drivers/virt/coco/tdx-guest/tdx-guest.ko.xz",
      "kernel/drivers/misc/pvpanic/pvpanic.ko.xz",
      "kernel/drivers/misc/pvpanic/pvpanic-pci.ko.xz",
    ],
  );
});

Deno.test("an unknown module or a cycle is a clear build error", () => {
  const idx = parseModuleIndex(DEP, BUILTIN);
  assertThrows(() => resolveModules(idx, ["nosuch"]), /module nosuch not found/);
  assertThrows(() => resolveModules(idx, ["a"]), /cycle: a -> b -> a/);
  const broken = parseModuleIndex("kernel/m.ko: kernel/gone.ko\n", "");
  assertThrows(() => resolveModules(broken, ["m"]), /module gone not found \(needed by m\)/);
});

Deno.test("names, finit_module flags and the load list", () => {
  assertEquals(moduleName("kernel/drivers/virt/coco/tdx-guest/tdx-guest.ko.xz"), "tdx_guest");
  assertEquals(finitFlags("tdx-guest.ko.xz"), 4);
  assertEquals(finitFlags("overlay.ko.zst"), 4);
  assertEquals(finitFlags("overlay.ko"), 0);
  assertEquals(parseLoadList("# order\na.ko.xz\n\n  b.ko \n"), ["a.ko.xz", "b.ko"]);
});

// The kernel is fetched and depmod'ed by scripts/initramfs; before that this test is reported ignored.
const KDIR = (() => {
  try {
    for (const e of Deno.readDirSync("build/kernel/x/lib/modules")) {
      const d = `build/kernel/x/lib/modules/${e.name}`;
      Deno.statSync(`${d}/modules.dep`);
      return d;
    }
  } catch { /* not fetched */ }
  return null;
})();

Deno.test({
  name: "the packaged kernel's real modules.dep resolves initramfs/modules",
  ignore: KDIR === null,
  fn: async () => {
    const idx = parseModuleIndex(
      await Deno.readTextFile(`${KDIR}/modules.dep`),
      await Deno.readTextFile(`${KDIR}/modules.builtin`),
    );
    const order = resolveModules(idx, parseLoadList(await Deno.readTextFile("initramfs/modules")));
    const names = order.map(moduleName);
    assertEquals(names.indexOf("failover") < names.indexOf("virtio_net"), true);
    assertEquals(names.indexOf("tsm") < names.indexOf("tdx_guest"), true);
    assertEquals(names.indexOf("vsock") < names.indexOf("vmw_vsock_virtio_transport"), true);
    assertEquals(new Set(names).size, names.length);
  },
});
