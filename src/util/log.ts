/** Levelled logging to stderr (PID-1 mode also mirrors to /dev/kmsg; see init/). */
export type Level = "error" | "warn" | "info" | "debug";
const ORDER: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
let threshold: Level = "info";
const sinks: ((level: Level, line: string) => void)[] = [];

export function setLogLevel(level: Level): void {
  threshold = level;
}
export function addLogSink(sink: (level: Level, line: string) => void): void {
  sinks.push(sink);
}

function emit(level: Level, msg: string): void {
  if (ORDER[level] > ORDER[threshold]) return;
  const line = `acond[${level}] ${msg}`;
  try {
    console.error(line);
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
