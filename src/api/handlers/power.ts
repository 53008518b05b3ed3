/** Shutdown, Reboot (PID 1 only) and the streaming KernelLog. */
import type { Handlers } from "../router.ts";
import { graceFromSeconds, type PowerFn, requestPower } from "../../power.ts";
import { kernelLogLines } from "../../kernel_log.ts";
import type { StreamLimits } from "../stream_slots.ts";

/** `power` is PID 1's graceful power-down, null in dev mode (the RPCs are refused). */
export function powerHandlers(power: PowerFn | null, streams: StreamLimits): Handlers {
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
      const lines = streams.kernelLog.hold(
        context.signal,
        () => kernelLogLines(req.follow, context.signal),
      );
      for await (const line of lines) yield { line };
    },
  };
}
