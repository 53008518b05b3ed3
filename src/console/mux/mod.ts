/**
 * The console multiplexer as the daemon starts it (interactive mode only): the machine and its
 * driver on the console device (PID 1: /dev/console; dev mode: --console PATH), the hub's
 * terminals behind it, and the debug shell when acond.debug_shell is on. docs/console.md.
 */
import type { TerminalHub } from "../hub.ts";
import type { FdWatcher } from "../../proc/poller.ts";
import type { Reaper } from "../../proc/reaper.ts";
import type { Sys } from "../../sys/mod.ts";
import { spawnInVm } from "../../sys/proc.ts";
import { ttyRaw, ttyRestore, ttySave, ttyWinsize } from "../../sys/tty.ts";
import { holdStderr, log, recentLogLines } from "../../util/log.ts";
import { ConsoleDevice } from "./device.ts";
import { ConsoleMux } from "./driver.ts";
import { DebugShell } from "./shell.ts";

export { ConsoleMux } from "./driver.ts";

export interface ConsoleOptions {
  /** The console's terminal. */
  path: string;
  hub: TerminalHub;
  sys: Sys;
  fds: FdWatcher;
  reaper: Reaper;
  /** acond.debug_shell: the `shell` command. */
  debugShell: boolean;
  /** The console is acond's stderr too (PID 1): log lines are held off it while entered. */
  consoleIsStderr: boolean;
  /** PID 1 (its reaper is started at boot); else the shell starts the reaper as a subreaper. */
  pid1: boolean;
  /** Resizes a pty through its master (the debug shell's). */
  resizePty(master: number, rows: number, cols: number): void;
}

/** The VM's /bin/sh, as the debug shell runs it. */
export const SHELL_PATH = "/bin/sh";

/** Starts the multiplexer; null (logged) when the console cannot be used. */
export function startConsole(o: ConsoleOptions): ConsoleMux | null {
  const shell = o.debugShell
    ? new DebugShell({
      sys: o.sys,
      fds: o.fds,
      resizePty: o.resizePty,
      spawn: (slave) => {
        // Dev mode starts the reaper with the first container; the shell may come first.
        o.reaper.start({ subreaper: !o.pid1 });
        return o.reaper.spawn(() =>
          spawnInVm({
            path: SHELL_PATH,
            argv: [SHELL_PATH, "-i"],
            env: [
              "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
              "HOME=/",
              `TERM=${Deno.env.get("TERM") || "linux"}`,
              "PS1=acond-debug# ",
            ],
            stdio: [slave, slave, slave],
            umask: 0o022,
            noNewPrivs: false,
            setsid: true,
            ctty: true,
          }).catch((e) => {
            throw new Error(`cannot start the debug shell ${SHELL_PATH}: ${(e as Error).message}`);
          })
        );
      },
    })
    : null;
  const mux = new ConsoleMux({
    hub: o.hub,
    logLines: recentLogLines,
    shell,
    holdStderr: o.consoleIsStderr ? holdStderr : undefined,
    open: (onInput, onGone) =>
      new ConsoleDevice(
        o.path,
        {
          openFd: o.sys.openFd,
          close: o.sys.close,
          readSome: o.sys.readSome,
          writeSome: o.sys.writeSome,
          ttySave,
          ttyRestore,
          ttyRaw,
          ttyWinsize,
        },
        o.fds,
        onInput,
        onGone,
      ),
  });
  try {
    mux.start();
  } catch (e) {
    log.error(`console multiplexer: cannot use ${o.path}: ${(e as Error).message}`);
    return null;
  }
  log.info(`console multiplexer on ${o.path}${o.debugShell ? " (with the debug shell)" : ""}`);
  return mux;
}
