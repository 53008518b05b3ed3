/** Shutdown, Reboot (PID 1 only) and the streaming KernelLog. */
import type { Handlers } from "../router.ts";
import { graceFromSeconds, type PowerFn, requestPower } from "../../power.ts";
import { kernelLogLines } from "../../kernel_log.ts";

/** `power` is PID 1's graceful power-down, null in dev mode (the RPCs are refused). */
export function powerHandlers(power: PowerFn | null): Handlers {
  return {
    shutdown(req) {
      requestPower(power, "poweroff", graceFromSeconds(req.graceSeconds), "Shutdown RPC");
      return {};
    },
    reboot(req) {
      requestPower(power, "reboot", graceFromSeconds(req.graceSeconds), "Reboot RPC");
      return {};
    },
    async *kernelLog(req, context) {
      for await (const line of kernelLogLines(req.follow, context.signal)) yield { line };
    },
  };
}
