/**
 * /etc/fstab parsing and the mount plan of early boot. Pure: the I/O (does the source exist, is
 * the target mounted, mount(2)) is done by the caller (init/mounts.ts).
 *
 * ACON's option words, with its defect fixed: `diratime` is the default behaviour (update
 * directory access times), so it sets no flag; ACON mapped it to MS_NOATIME.
 */
import { MS } from "../sys/mount_flags.ts";

export interface MountEntry {
  /** null for `none`. */
  source: string | null;
  target: string;
  /** null for `none`. */
  fstype: string | null;
  flags: number;
  /** Comma-joined `key=value` options, or null. */
  data: string | null;
  /** Option words that have no effect here (reported, not fatal). */
  unsupported: string[];
}

export { MS };

const WORD_FLAGS: Record<string, number> = {
  defaults: 0,
  rw: 0,
  suid: 0,
  dev: 0,
  exec: 0,
  async: 0,
  diratime: 0, // ACON: MS_NOATIME (wrong); the fix: no flag, it is the kernel default
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  remount: MS.REMOUNT,
  dirsync: MS.DIRSYNC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  silent: MS.SILENT,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  lazytime: MS.LAZYTIME,
};

/** fstab escapes blanks in fields as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

export function parseOptions(
  opts: string,
): { flags: number; data: string | null; unsupported: string[] } {
  let flags = 0;
  const data: string[] = [];
  const unsupported: string[] = [];
  for (const word of opts.split(",")) {
    if (word === "") continue;
    if (word.includes("=")) data.push(word);
    else if (word in WORD_FLAGS) flags |= WORD_FLAGS[word];
    else unsupported.push(word);
  }
  return { flags, data: data.length ? data.join(",") : null, unsupported };
}

/**
 * Lines that are blank, comments, or have fewer than 4 fields are skipped (as ACON). Fields 5
 * and 6 (dump, pass) are ignored.
 */
export function parseFstab(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(/\s+/).map(unescape);
    if (f.length < 4) continue;
    const [source, target, fstype, opts] = f;
    const o = parseOptions(opts);
    out.push({
      source: source === "none" ? null : source,
      target,
      fstype: fstype === "none" ? null : fstype,
      ...o,
    });
  }
  return out;
}

/**
 * The built-in table, used when /etc/fstab is missing or one of its mounts fails: ACON's
 * (devtmpfs, devpts, proc, sysfs, /shared 1m, /run 50%) plus cgroup2 and /tmp, with /proc first because
 * everything else (the "already mounted?" check included) reads it.
 */
export const BUILTIN_MOUNTS: readonly MountEntry[] = Object.freeze([
  entry("proc", "/proc", "proc", MS.NOSUID | MS.NODEV | MS.NOEXEC, null),
  entry("devtmpfs", "/dev", "devtmpfs", MS.NOSUID, "mode=0755"),
  entry(
    "devpts",
    "/dev/pts",
    "devpts",
    MS.NOSUID | MS.NOEXEC,
    "newinstance,ptmxmode=0666,mode=0620",
  ),
  entry("sysfs", "/sys", "sysfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, null),
  // The containers' cgroups (container/cgroup.ts).
  entry("cgroup2", "/sys/fs/cgroup", "cgroup2", MS.NOSUID | MS.NODEV | MS.NOEXEC, null),
  entry("tmpfs", "/run", "tmpfs", MS.NOSUID | MS.NODEV, "size=50%,mode=0755"),
  entry("tmpfs", "/tmp", "tmpfs", MS.NOSUID | MS.NODEV, "mode=1777"),
  entry("tmpfs", "/shared", "tmpfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=1m,mode=0755"),
]);

function entry(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string | null,
): MountEntry {
  return { source, target, fstype, flags, data, unsupported: [] };
}

/** Mount points listed in /proc/mounts (field 2, with fstab-style octal escapes). */
export function mountedTargets(procMounts: string): Set<string> {
  const out = new Set<string>();
  for (const line of procMounts.split("\n")) {
    const f = line.split(" ");
    if (f.length >= 2) out.add(unescape(f[1]));
  }
  return out;
}

/** The /dev links ACON creates (for programs like MySQL that open /dev/stdout). */
export const DEV_LINKS: readonly [link: string, target: string][] = Object.freeze([
  ["/dev/fd", "/proc/self/fd"],
  ["/dev/stdin", "/proc/self/fd/0"],
  ["/dev/stdout", "/proc/self/fd/1"],
  ["/dev/stderr", "/proc/self/fd/2"],
]);
