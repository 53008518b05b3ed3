/** The kernel log: acond's own lines into /dev/kmsg, and records out of it (KernelLog RPC). */
import { addLogSink, type Level } from "../util/log.ts";

const PRIO: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** A log sink writing `<prio>acond: ...` records; silent if /dev/kmsg cannot be opened. */
export function kmsgSink(path = "/dev/kmsg"): ((level: Level, line: string) => void) | null {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true });
  } catch {
    return null;
  }
  const enc = new TextEncoder();
  return (level, line) => {
    // One write is one record; the kernel caps records at about 1 KiB.
    const text = line.replace(/^acond\[\w+\] /, "").replaceAll("\n", " ").slice(0, 900);
    f.writeSync(enc.encode(`<${PRIO[level]}>acond: ${text}\n`));
  };
}

/**
 * From here on the kernel log (and so the serial console) carries acond's own lines too.
 * /dev/kmsg drops writers' records beyond 10 per 5 s unless told otherwise (printk.devkmsg);
 * acond's boot alone writes more. A cmdline setting locks the sysctl, and wins.
 */
export function logToKernel(): void {
  try {
    Deno.writeTextFileSync("/proc/sys/kernel/printk_devkmsg", "on\n");
  } catch { /* locked by printk.devkmsg= on the cmdline */ }
  const sink = kmsgSink();
  if (sink) addLogSink(sink);
}
