/** The phase-by-phase, on-demand kernel module loader of PID 1, with a recording finit_module. */
import { assertEquals } from "../../helpers/assert.ts";
import { ModuleLoader, sysfsModaliases } from "../../../src/init/module_loader.ts";
import type { Planned } from "../../../src/init/modules.ts";
import { virtioVsockPresent } from "../../../src/init/vsock.ts";

const PLAN: Planned[] = [
  { file: "failover.ko.xz", phase: "boot" },
  { file: "virtio_net.ko.xz", phase: "boot" },
  { file: "tsm.ko.xz", phase: "tee" },
  { file: "tdx-guest.ko.xz", phase: "tee" },
  { file: "vsock.ko.xz", phase: "after" },
  { file: "overlay.ko.xz", phase: "after" },
];

function recorder(fail: Record<string, string> = {}) {
  const calls: string[] = [];
  const finit = async (path: string, flags: number) => {
    calls.push(`${path} ${flags}`);
    await new Promise((r) => setTimeout(r, 1)); // a real load yields to the event loop
    const code = fail[path.slice(path.lastIndexOf("/") + 1)];
    if (code) throw Object.assign(new Error(`finit_module ${path}: ${code}`), { code });
  };
  return { calls, finit };
}

Deno.test("phases load in plan order, each module once, compressed ones with flag 4", async () => {
  const r = recorder();
  const l = new ModuleLoader("/m", PLAN, r.finit);
  assertEquals(await l.load(["boot"]), ["failover", "virtio_net"]);
  assertEquals(await l.load(["boot", "tee"]), ["tsm", "tdx_guest"]);
  assertEquals(r.calls, [
    "/m/failover.ko.xz 4",
    "/m/virtio_net.ko.xz 4",
    "/m/tsm.ko.xz 4",
    "/m/tdx-guest.ko.xz 4",
  ]);
});

Deno.test("ensure loads the module's phase once, however many wait; unplanned needs nothing", async () => {
  const r = recorder();
  const l = new ModuleLoader("/m", PLAN, r.finit);
  await l.load(["boot"]);
  await Promise.all([l.ensure("overlay"), l.ensure("overlay"), l.ensure("vsock")]);
  await l.ensure("overlay");
  await l.ensure("nfs"); // not in the plan (built in, or not ours): nothing to do
  assertEquals(r.calls.slice(2), ["/m/vsock.ko.xz 4", "/m/overlay.ko.xz 4"]);
});

Deno.test("a refusal is logged and settles the wait; EEXIST counts as there", async () => {
  const r = recorder({ "tdx-guest.ko.xz": "ENODEV", "tsm.ko.xz": "EEXIST" });
  const l = new ModuleLoader("/m", PLAN, r.finit);
  assertEquals(await l.load(["tee"]), []);
  await l.ensure("tdx_guest"); // tried already: resolves without a second attempt
  assertEquals(r.calls.length, 2);
});

Deno.test("a driver without its device is skipped, and counts as tried", async () => {
  const r = recorder();
  const plan: Planned[] = [
    { file: "pvpanic.ko.xz", phase: "boot", devices: ["pci:v00001B36d00000011*"] },
    { file: "pvpanic-pci.ko.xz", phase: "boot", devices: ["pci:v00001B36d00000011*"] },
    { file: "virtio_net.ko.xz", phase: "boot", devices: ["virtio:d00000001v*"] },
  ];
  let reads = 0;
  const modaliases = () => (reads++, ["virtio:d00000001v00001AF4", "pci:v00008086d00000D57"]);
  const l = new ModuleLoader("/m", plan, r.finit, modaliases);
  assertEquals(await l.load(["boot"]), ["virtio_net"]);
  await l.ensure("pvpanic_pci");
  assertEquals(r.calls, ["/m/virtio_net.ko.xz 4"]);
  assertEquals(reads, 1); // sysfs read once per load
});

Deno.test("modaliases come from PCI and virtio devices and the CPU", () => {
  const root = Deno.makeTempDirSync();
  try {
    for (
      const [dir, alias] of [
        ["bus/pci/devices/0000:00:02.0", "pci:v00001AF4d00001041"],
        ["bus/virtio/devices/virtio0", "virtio:d00000001v00001AF4"],
        ["devices/system/cpu", "cpu:type:x86,ven0000:feature:,0116"],
      ]
    ) {
      Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
      Deno.writeTextFileSync(`${root}/${dir}/modalias`, alias + "\n");
    }
    Deno.mkdirSync(`${root}/bus/pci/devices/0000:00:03.0`); // no modalias file: ignored
    assertEquals(sysfsModaliases(root).sort(), [
      "cpu:type:x86,ven0000:feature:,0116",
      "pci:v00001AF4d00001041",
      "virtio:d00000001v00001AF4",
    ]);
    assertEquals(sysfsModaliases(`${root}/none`), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a virtio-vsock device is seen by its modalias, before any driver binds", () => {
  assertEquals(virtioVsockPresent([]), false);
  assertEquals(virtioVsockPresent(["virtio:d00000001v00001AF4", "pci:v00001AF4d00001053"]), false);
  assertEquals(
    virtioVsockPresent(["virtio:d00000001v00001AF4", "virtio:d00000013v00001AF4"]),
    true,
  );
});
