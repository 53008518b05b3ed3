/**
 * The console's terminal settings (ffi/tty.c), for the console multiplexer: a saved termios
 * state, raw input with or without output processing, the window size. All immediate (TCSANOW),
 * none blocks.
 */
import { check } from "./errors.ts";
import { TTY_STATE_SIZE } from "./abi.ts";
import { shim } from "./lib.ts";

/** A terminal's saved settings (opaque). */
export type TtyState = Uint8Array<ArrayBuffer>;

/** tcgetattr: throws SysError ENOTTY when fd is not a terminal. */
export function ttySave(fd: number): TtyState {
  const st = new Uint8Array(TTY_STATE_SIZE);
  check(shim().shim_tty_save(fd, st, BigInt(st.length)), "tcgetattr", String(fd));
  return st;
}

export function ttyRestore(fd: number, st: TtyState): void {
  check(shim().shim_tty_restore(fd, st, BigInt(st.length)), "tcsetattr", String(fd));
}

/** Raw input from `base`'s settings; `outputProcessing` keeps "\n" → "\r\n" (the prompt). */
export function ttyRaw(fd: number, base: TtyState, outputProcessing: boolean): void {
  check(
    shim().shim_tty_raw(fd, base, BigInt(base.length), outputProcessing ? 1 : 0),
    "tcsetattr",
    String(fd),
  );
}

/** TIOCGWINSZ; null when the terminal does not know its size (0x0, e.g. a serial line). */
export function ttyWinsize(fd: number): { rows: number; cols: number } | null {
  const out = new Int32Array(2);
  check(shim().shim_tty_winsize(fd, out), "ioctl(TIOCGWINSZ)", String(fd));
  return out[0] > 0 && out[1] > 0 ? { rows: out[0], cols: out[1] } : null;
}
