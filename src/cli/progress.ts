/**
 * The upload progress line (a terminal only): bytes, percent, rate and ETA of one layer. The
 * rate counts only what this run sent (a resumed upload starts from what acond already had).
 */

const MIB = 1024 * 1024;

function size(n: number): string {
  return n >= MIB ? `${(n / MIB).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function clock(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const t = Math.round(s);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export interface ProgressState {
  /** What the layer is called on the line. */
  name: string;
  size: number;
  /** Bytes acond has now. */
  done: number;
  /** Bytes acond had when this run started (resumed uploads). */
  startedAt: number;
  elapsedMs: number;
}

/** One line, e.g. `sha384/3f1c… [######----]  61%  40.0 MiB/65.5 MiB  12.3 MiB/s  ETA 00:02`. */
export function progressText(p: ProgressState, barWidth = 20): string {
  const frac = p.size ? Math.min(1, p.done / p.size) : 1;
  const filled = Math.round(frac * barWidth);
  const bar = "#".repeat(filled) + "-".repeat(barWidth - filled);
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const rate = p.elapsedMs > 0 ? ((p.done - p.startedAt) * 1000) / p.elapsedMs : 0;
  const eta = rate > 0 ? (p.size - p.done) / rate : Infinity;
  return `${p.name} [${bar}] ${pct}  ${size(p.done)}/${size(p.size)}  ${size(rate)}/s  ` +
    `ETA ${frac >= 1 ? "00:00" : clock(eta)}`;
}
