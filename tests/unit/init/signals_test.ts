import { assertEquals } from "../../helpers/assert.ts";
import { handledSignals, signalAction } from "../../../src/init/signals.ts";

Deno.test("PID 1: SIGTERM/SIGPWR power off, SIGINT (ctrl-alt-del) reboots, others ignored", () => {
  assertEquals(signalAction("SIGTERM", true), "poweroff");
  assertEquals(signalAction("SIGPWR", true), "poweroff");
  assertEquals(signalAction("SIGINT", true), "reboot");
  assertEquals(signalAction("SIGHUP", true), null);
  assertEquals(signalAction("SIGUSR1", true), null);
  assertEquals(handledSignals(true), ["SIGTERM", "SIGPWR", "SIGINT"]);
});

Deno.test("dev mode: SIGTERM and SIGINT end the daemon, never power actions", () => {
  assertEquals(signalAction("SIGTERM", false), "exit");
  assertEquals(signalAction("SIGINT", false), "exit");
  assertEquals(signalAction("SIGPWR", false), null);
  assertEquals(handledSignals(false), ["SIGTERM", "SIGINT"]);
});
