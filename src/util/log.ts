/** Levelled logging to stderr (PID-1 mode also mirrors to /dev/kmsg; see init/). */
export type Level = "error" | "warn" | "info" | "debug";
const ORDER: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
let threshold: Level = "info";
const sinks: ((level: Level, line: string) => void)[] = [];
/** The most recent lines, oldest first (the VM console's `log` command). */
const RECENT_MAX = 500;
const recent: string[] = [];
let stderrHeld = false;

export function setLogLevel(level: Level): void {
  threshold = level;
}
export function addLogSink(sink: (level: Level, line: string) => void): void {
  sinks.push(sink);
}
/** acond's last log lines (at most 500), oldest first. */
export function recentLogLines(): string[] {
  return recent.slice();
}
/**
 * While held, lines do not go to stderr (they still reach the sinks and recentLogLines): the
 * VM console's multiplexer holds it while a terminal is entered on the console stderr is.
 */
export function holdStderr(on: boolean): void {
  stderrHeld = on;
}

function emit(level: Level, msg: string): void {
  if (ORDER[level] > ORDER[threshold]) return;
  const line = `acond[${level}] ${msg}`;
  recent.push(line);
  if (recent.length > RECENT_MAX) recent.shift();
  try {
    if (!stderrHeld) console.error(line);
  } catch { /* a closed stderr must not take PID 1 down */ }
  for (const s of sinks) {
    try {
      s(level, line);
    } catch { /* ditto */ }
  }
}

export const log = {
  error: (m: string) => emit("error", m),
  warn: (m: string) => emit("warn", m),
  info: (m: string) => emit("info", m),
  debug: (m: string) => emit("debug", m),
};
