import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  aliasMatches,
  finitFlags,
  formatLoadList,
  moduleName,
  parseLoadList,
  parseModuleIndex,
  parseModuleSpec,
  resolveModules,
  type Wanted,
} from "../../../src/init/modules.ts";

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

const boot = (...names: string[]): Wanted[] => names.map((name) => ({ name, phase: "boot" }));

Deno.test("dependencies come first, each module once, built-ins skipped", () => {
  const idx = parseModuleIndex(DEP, BUILTIN);
  assertEquals(
    resolveModules(idx, boot("virtio_pci", "virtio-net", "tdx_guest", "tsm", "pvpanic-pci"))
      .map((p) => p.file),
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
  assertThrows(() => resolveModules(idx, boot("nosuch")), /module nosuch not found/);
  assertThrows(() => resolveModules(idx, boot("a")), /cycle: a -> b -> a/);
  const broken = parseModuleIndex("kernel/m.ko: kernel/gone.ko\n", "");
  assertThrows(() => resolveModules(broken, boot("m")), /module gone not found \(needed by m\)/);
});

Deno.test("phases: grouped boot, tee, after; a dependency loads in the earliest phase needing it", () => {
  const idx = parseModuleIndex(DEP, BUILTIN);
  const plan = resolveModules(idx, [
    { name: "overlay", phase: "after" },
    { name: "tdx_guest", phase: "tee" },
    { name: "virtio_net", phase: "boot" },
    // configfs is needed by tdx_guest (tee) and asked for at boot: it moves to boot.
    { name: "configfs", phase: "boot" },
    { name: "pvpanic_pci", phase: "after" },
    { name: "pvpanic", phase: "tee" }, // pvpanic_pci's dependency, needed earlier on its own
  ]).map((p) => `${p.phase} ${moduleName(p.file)}`);
  assertEquals(plan, [
    "boot configfs",
    "boot failover",
    "boot net_failover",
    "boot virtio_net",
    "tee tsm",
    "tee tdx_guest",
    "tee pvpanic",
    "after overlay",
    "after pvpanic_pci",
  ]);
  // A module asked for twice keeps its earliest phase.
  assertEquals(
    resolveModules(idx, [{ name: "overlay", phase: "after" }, { name: "overlay", phase: "boot" }]),
    [{ file: "kernel/fs/overlayfs/overlay.ko.xz", phase: "boot" }],
  );
});

Deno.test("the module spec and the load list: phases, comments, clear errors", () => {
  assertEquals(parseModuleSpec("# x\nvirtio_net   boot # the NIC\noverlay after\ntsm\n"), [
    { name: "virtio_net", phase: "boot" },
    { name: "overlay", phase: "after" },
    { name: "tsm", phase: "boot" },
  ]);
  assertThrows(() => parseModuleSpec("overlay later\n"), /module overlay: unknown phase "later"/);
  assertThrows(() => parseModuleSpec("overlay after now\n"), /line 1: expected "name \[phase\]"/);
  assertEquals(parseLoadList("# order\na.ko.xz boot\n\n  b.ko  after \n"), [
    { file: "a.ko.xz", phase: "boot" },
    { file: "b.ko", phase: "after" },
  ]);
  assertThrows(() => parseLoadList("a.ko soon\n"), /a\.ko: unknown phase "soon"/);
});

Deno.test("names, finit_module flags and the load list", () => {
  assertEquals(moduleName("kernel/drivers/virt/coco/tdx-guest/tdx-guest.ko.xz"), "tdx_guest");
  assertEquals(finitFlags("tdx-guest.ko.xz"), 4);
  assertEquals(finitFlags("overlay.ko.zst"), 4);
  assertEquals(finitFlags("overlay.ko"), 0);
});

const ALIAS = `alias fs-overlay overlay
alias pci:v00001B36d00000011sv*sd*bc*sc*i* pvpanic_pci
alias virtio:d00000001v* virtio_net
alias cpu:type:x86,ven*fam*mod*:feature:*0116* tdx_guest
`;

Deno.test("drivers load only with a matching device; their dependencies inherit that", () => {
  const idx = parseModuleIndex(DEP, BUILTIN, ALIAS);
  const plan = resolveModules(idx, [
    { name: "virtio_net", phase: "boot" },
    { name: "pvpanic_pci", phase: "boot" },
    { name: "tsm", phase: "tee" }, // not a driver: always, and so is its dependency configfs
    { name: "tdx_guest", phase: "tee" },
    { name: "overlay", phase: "after" }, // fs- alias: not a driver
  ]);
  const by = Object.fromEntries(plan.map((p) => [moduleName(p.file), p.devices ?? "always"]));
  assertEquals(by, {
    failover: ["virtio:d00000001v*"],
    net_failover: ["virtio:d00000001v*"],
    virtio_net: ["virtio:d00000001v*"],
    pvpanic: ["pci:v00001B36d00000011sv*sd*bc*sc*i*"],
    pvpanic_pci: ["pci:v00001B36d00000011sv*sd*bc*sc*i*"],
    configfs: "always",
    tsm: "always",
    tdx_guest: ["cpu:type:x86,ven*fam*mod*:feature:*0116*"],
    overlay: "always",
  });
  // A dependency wanted on its own (pvpanic) loads always; shared with an always-module too.
  const own = resolveModules(idx, [
    { name: "pvpanic_pci", phase: "boot" },
    { name: "pvpanic", phase: "boot" },
  ]);
  assertEquals(own.map((p) => p.devices ?? "always"), [
    "always",
    ["pci:v00001B36d00000011sv*sd*bc*sc*i*"],
  ]);
  // The load list carries the patterns (none contains a space) and reads back the same.
  assertEquals(
    parseLoadList(formatLoadList(plan)),
    plan.map((p) => ({
      ...p,
      file: p.file,
    })),
  );
});

Deno.test("modalias patterns match as the kernel's fnmatch does", () => {
  const cpu = "cpu:type:x86,ven0000fam0006mod008F:feature:,0000,0001,0116,0117";
  assertEquals(aliasMatches("cpu:type:x86,ven*fam*mod*:feature:*0116*", cpu), true);
  assertEquals(aliasMatches("cpu:type:x86,ven*fam*mod*:feature:*0118*", cpu), false);
  const pci = "pci:v00001B36d00000011sv00001AF4sd00001100bc08sc80i00";
  assertEquals(aliasMatches("pci:v00001B36d00000011sv*sd*bc*sc*i*", pci), true);
  assertEquals(aliasMatches("pci:v00001B36d00000012sv*sd*bc*sc*i*", pci), false);
  assertEquals(aliasMatches("virtio:d0000000?v*", "virtio:d00000001v00001AF4"), true);
  assertEquals(aliasMatches("virtio:d0000000[23]v*", "virtio:d00000001v00001AF4"), false);
  assertEquals(aliasMatches("virtio:d0000000[!23]v*", "virtio:d00000001v00001AF4"), true);
  assertEquals(aliasMatches("a.b", "aXb"), false); // '.' is literal
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
      await Deno.readTextFile(`${KDIR}/modules.alias`),
    );
    const plan = resolveModules(idx, parseModuleSpec(await Deno.readTextFile("initramfs/modules")));
    const names = plan.map((p) => moduleName(p.file));
    const phaseOf = (n: string) => plan.find((p) => moduleName(p.file) === n)?.phase;
    // The NIC and pvpanic before the API; TDX support before the TEE is chosen; the rest after.
    assertEquals(
      ["virtio_net", "pvpanic_pci", "tdx_guest", "tsm", "overlay", "vmw_vsock_virtio_transport"]
        .map(phaseOf),
      ["boot", "boot", "tee", "tee", "after", "after"],
    );
    // Drivers wait for their devices: pvpanic's PCI id, the TDX CPU feature, virtio ids.
    const devicesOf = (n: string) => plan.find((p) => moduleName(p.file) === n)?.devices;
    assertEquals(devicesOf("pvpanic_pci"), ["pci:v00001B36d00000011sv*sd*bc*sc*i*"]);
    assertEquals(devicesOf("tdx_guest")?.every((d) => d.startsWith("cpu:")), true);
    assertEquals(devicesOf("overlay"), undefined);
    assertEquals(devicesOf("tsm"), undefined);
    assertEquals(names.indexOf("failover") < names.indexOf("virtio_net"), true);
    assertEquals(names.indexOf("tsm") < names.indexOf("tdx_guest"), true);
    assertEquals(names.indexOf("vsock") < names.indexOf("vmw_vsock_virtio_transport"), true);
    assertEquals(new Set(names).size, names.length);
  },
});
