import { assertEquals } from "../../helpers/assert.ts";
import {
  BUILTIN_MOUNTS,
  mountedTargets,
  MS,
  parseFstab,
  parseOptions,
} from "../../../src/init/fstab.ts";

// ACON's reference fstab (scripts/acon-build.env gen_init), behaviour file §1.1.
const ACON_FSTAB = `# generated
/dev/mapper/vda@ none swap sw 0 0
proc /proc proc defaults 0 0
devtmpfs /dev devtmpfs defaults 0 0
devpts   /dev/pts devpts defaults 0 0

sysfs /sys sysfs defaults 0 0
tmpfs /tmp tmpfs nodev,nosuid,noexec,size=500% 0 0
tmpfs /run tmpfs nodev,nosuid,noexec,size=20%,mode=0755 0 0
tmpfs /shared tmpfs nodev,nosuid,noexec,size=1m
short line only
`;

Deno.test("ACON's reference fstab parses to its mounts", () => {
  const e = parseFstab(ACON_FSTAB);
  assertEquals(e.map((x) => x.target), [
    "none",
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/tmp",
    "/run",
    "/shared",
  ]);
  // The swap line: source is an absolute path (skipped at mount time if it does not exist).
  assertEquals(e[0].source, "/dev/mapper/vda@");
  assertEquals(e[0].unsupported, ["sw"]);
  assertEquals(e[1], {
    source: "proc",
    target: "/proc",
    fstype: "proc",
    flags: 0,
    data: null,
    unsupported: [],
  });
  assertEquals(e[6], {
    source: "tmpfs",
    target: "/run",
    fstype: "tmpfs",
    flags: MS.NODEV | MS.NOSUID | MS.NOEXEC,
    data: "size=20%,mode=0755",
    unsupported: [],
  });
});

Deno.test("every ACON option word maps to its flag; diratime's bug is fixed", () => {
  const words: [string, number][] = [
    ["defaults", 0],
    ["ro", MS.RDONLY],
    ["nosuid", MS.NOSUID],
    ["nodev", MS.NODEV],
    ["noexec", MS.NOEXEC],
    ["sync", MS.SYNCHRONOUS],
    ["remount", MS.REMOUNT],
    ["dirsync", MS.DIRSYNC],
    ["diratime", 0], // ACON: MS_NOATIME
    ["nodiratime", MS.NODIRATIME],
    ["silent", MS.SILENT],
    ["relatime", MS.RELATIME],
    ["strictatime", MS.STRICTATIME],
    ["lazytime", MS.LAZYTIME],
  ];
  for (const [w, f] of words) {
    assertEquals(parseOptions(w), { flags: f, data: null, unsupported: [] }, w);
  }
  assertEquals(parseOptions("ro,discard,size=1m,,mode=0700"), {
    flags: MS.RDONLY,
    data: "size=1m,mode=0700",
    unsupported: ["discard"],
  });
});

Deno.test("none means no source / no fstype; octal escapes are decoded", () => {
  const [e] = parseFstab("none /mnt/a\\040b none bind");
  assertEquals([e.source, e.target, e.fstype, e.unsupported], [null, "/mnt/a b", null, ["bind"]]);
});

Deno.test("mountedTargets reads field 2 of /proc/mounts", () => {
  const m = mountedTargets(
    "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\ntmpfs /x\\040y tmpfs rw 0 0\n",
  );
  assertEquals([...m], ["/", "/proc", "/x y"]);
});

Deno.test("built-in table: /proc first, then ACON's mounts plus cgroup2 and /tmp", () => {
  assertEquals(BUILTIN_MOUNTS.map((m) => m.target), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/run",
    "/tmp",
    "/shared",
  ]);
  assertEquals(BUILTIN_MOUNTS.find((m) => m.target === "/shared")!.data, "size=1m,mode=0755");
});
