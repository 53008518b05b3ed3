/** What each signal means to acond. Pure, so both modes share one table and tests pin it. */

export type PowerAction = "poweroff" | "reboot" | "exit";

/**
 * PID 1: SIGTERM and SIGPWR (what the hypervisor or `kill 1` sends) power off gracefully;
 * SIGINT, which the kernel sends for ctrl-alt-del once CAD is switched off, reboots.
 * Dev mode: SIGTERM and SIGINT end the daemon gracefully; the machine is not ours.
 */
export function signalAction(signal: Deno.Signal, pid1: boolean): PowerAction | null {
  if (pid1) {
    if (signal === "SIGTERM" || signal === "SIGPWR") return "poweroff";
    if (signal === "SIGINT") return "reboot";
    return null;
  }
  if (signal === "SIGTERM" || signal === "SIGINT") return "exit";
  return null;
}

export function handledSignals(pid1: boolean): Deno.Signal[] {
  const all: Deno.Signal[] = ["SIGTERM", "SIGPWR", "SIGINT", "SIGHUP", "SIGQUIT"];
  return all.filter((s) => signalAction(s, pid1) !== null);
}
