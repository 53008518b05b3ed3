/**
 * The firmware's CC event log (CCEL, ACPI 6.5 §5.2.34), passed through so that a verifier can
 * replay RTMR0–2 (acond's own log covers RTMR3). Linux exposes the ACPI table at
 * /sys/firmware/acpi/tables/CCEL and the log area it points to at
 * /sys/firmware/acpi/tables/data/CCEL; both are returned as read (the log area's unused tail is
 * 0xFF), or null when the table is absent (not a TD, or a firmware without CCEL).
 */
export const ACPI_TABLES = "/sys/firmware/acpi/tables";

/** Longest CCEL log area read (TDVF reserves 64 KiB; the ACPI LAML can be larger). */
export const MAX_CCEL_BYTES = 16 << 20;

export interface Ccel {
  table: Uint8Array;
  data: Uint8Array;
}

async function readOptional(path: string): Promise<Uint8Array | null> {
  try {
    const f = await Deno.open(path, { read: true });
    try {
      // sysfs reports size 0 for some binary attributes: read to the end, bounded.
      const parts: Uint8Array[] = [];
      let total = 0;
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await f.read(buf);
        if (n === null || n === 0) break;
        total += n;
        if (total > MAX_CCEL_BYTES) throw new Error(`${path} is larger than ${MAX_CCEL_BYTES}`);
        parts.push(buf.slice(0, n));
      }
      const out = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        out.set(p, off);
        off += p.length;
      }
      return out;
    } finally {
      f.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Reads the CCEL table and its log under `dir` (default: the kernel's ACPI tables). */
export async function readCcel(dir = ACPI_TABLES): Promise<Ccel | null> {
  const table = await readOptional(`${dir}/CCEL`);
  if (table === null) return null;
  const data = await readOptional(`${dir}/data/CCEL`);
  if (data === null) return null;
  return { table, data };
}
