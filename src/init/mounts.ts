/**
 * Early-boot file systems: /proc first (nothing else may run before it), then /etc/fstab when
 * present (ACON's rules: a failing entry stops the fstab and the built-in table fills the gaps),
 * else the built-in table; then the /dev links. Only src/sys and pure modules are imported, so
 * this runs before anything that needs /proc.
 */
import { mount } from "../sys/fs.ts";
import { BUILTIN_MOUNTS, DEV_LINKS, mountedTargets, type MountEntry, parseFstab } from "./fstab.ts";

export interface MountReport {
  mounted: string[];
  skipped: string[];
  failed: string[];
  usedFstab: boolean;
  notes: string[];
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function readMounted(): Set<string> {
  try {
    return mountedTargets(Deno.readTextFileSync("/proc/mounts"));
  } catch {
    return new Set();
  }
}

function mountOne(e: MountEntry, r: MountReport, mounted: Set<string>): boolean {
  if (mounted.has(e.target)) {
    r.skipped.push(e.target);
    return true;
  }
  try {
    Deno.mkdirSync(e.target, { recursive: true, mode: 0o755 });
  } catch { /* mount reports the real problem */ }
  try {
    mount(e.source, e.target, e.fstype, e.flags, e.data);
    mounted.add(e.target);
    r.mounted.push(e.target);
    return true;
  } catch (err) {
    r.failed.push(`${e.target}: ${(err as Error).message}`);
    return false;
  }
}

export interface MountPlan {
  fstabPath: string;
  builtin: readonly MountEntry[];
  links: readonly (readonly [string, string])[];
}

const DEFAULT_PLAN: MountPlan = {
  fstabPath: "/etc/fstab",
  builtin: BUILTIN_MOUNTS,
  links: DEV_LINKS,
};

/**
 * Mounts what early boot needs; never throws (PID 1 goes on with whatever it got). The plan is
 * a parameter so that tests can run the same logic on scratch paths in a mount namespace.
 */
export function mountEarly(plan: MountPlan = DEFAULT_PLAN): MountReport {
  const { fstabPath, builtin, links } = plan;
  const r: MountReport = { mounted: [], skipped: [], failed: [], usedFstab: false, notes: [] };
  const mounted = readMounted();
  const proc = builtin.find((e) => e.fstype === "proc");
  if (proc && !mounted.has(proc.target)) {
    mountOne(proc, r, mounted);
    for (const t of readMounted()) mounted.add(t);
  }
  let fstab: MountEntry[] | null = null;
  try {
    fstab = parseFstab(Deno.readTextFileSync(fstabPath));
  } catch { /* no fstab: the built-in table */ }
  if (fstab) {
    r.usedFstab = true;
    for (const e of fstab) {
      if (e.source?.startsWith("/") && !exists(e.source)) {
        r.notes.push(`${fstabPath}: ${e.target}: source ${e.source} does not exist, skipped`);
        continue;
      }
      if (e.fstype === "swap") {
        r.notes.push(`${fstabPath}: swap ${e.source} not supported, skipped`);
        continue;
      }
      if (e.unsupported.length) {
        r.notes.push(`${fstabPath}: ${e.target}: options ${e.unsupported.join(",")} not supported`);
      }
      if (!mountOne(e, r, mounted)) {
        r.notes.push(`${fstabPath}: failed to mount ${e.target}; using the built-in table`);
        break;
      }
    }
  }
  // The built-in table fills whatever the fstab did not mount (all of it without an fstab).
  if (!fstab || r.failed.length) { for (const e of builtin) mountOne(e, r, mounted); }
  for (const [link, target] of links) {
    try {
      Deno.symlinkSync(target, link);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        r.failed.push(`${link}: ${(e as Error).message}`);
      }
    }
  }
  return r;
}
