/** Shutdown, Reboot (PID 1 only) and the streaming KernelLog. */
import type { Context } from "../../context.ts";
import type { Handlers } from "../router.ts";
import { graceFromSeconds, requestPower } from "../../init/power.ts";
import { kernelLogLines } from "../../init/kmsg_reader.ts";

export function powerHandlers(_ctx: Context): Handlers {
  return {
    shutdown(req) {
      requestPower("poweroff", graceFromSeconds(req.graceSeconds), "Shutdown RPC");
      return {};
    },
    reboot(req) {
      requestPower("reboot", graceFromSeconds(req.graceSeconds), "Reboot RPC");
      return {};
    },
    async *kernelLog(req, context) {
      for await (const line of kernelLogLines(req.follow, context.signal)) yield { line };
    },
  };
}
