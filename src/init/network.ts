/**
 * The VM's network at boot: `lo` up, and with `acond.ip` the NIC's address, link and default
 * route (one shim call: each FFI symbol costs its binding at boot). A failure is logged; the API
 * still serves on what came up.
 */
import * as sys from "../sys/init.ts";
import type { StaticIp } from "./cmdline.ts";
import { log } from "../util/log.ts";

export function configureNetwork(ip: StaticIp | null): void {
  try {
    sys.ifConfig("lo");
  } catch (e) {
    log.error(`lo: ${(e as Error).message}`);
  }
  if (!ip) return;
  try {
    sys.ifConfig(ip.iface, {
      address: { ip: ip.address, prefix: ip.prefix },
      gateway: ip.gateway ?? undefined,
    });
    log.info(`${ip.iface}: ${ip.address}/${ip.prefix}${ip.gateway ? ` via ${ip.gateway}` : ""}`);
  } catch (e) {
    log.error(`network ${ip.iface}: ${(e as Error).message} (acond.ip ignored)`);
  }
}
