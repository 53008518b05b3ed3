/** Typed wrappers over ffi/init.c. */
import { check } from "./errors.ts";
import { IF_STEP } from "./abi.ts";
import { cstr, shim } from "./lib.ts";

/** reboot(2) commands (glibc RB_*). */
export const RB = {
  POWER_OFF: 0x4321fedc,
  AUTOBOOT: 0x01234567,
  DISABLE_CAD: 0,
} as const;

export function reboot(cmd: number): void {
  check(shim().shim_reboot(cmd >>> 0), "reboot");
}

export async function finitModule(path: string, flags: number): Promise<void> {
  check(await shim().shim_finit_module(cstr(path), cstr(""), flags), "finit_module", path);
}

/** Dotted quad → u32 in network byte order, as the C side stores it. */
function be(ip: string): number {
  const o = ip.split(".").map(Number);
  return new DataView(new Uint8Array(o).buffer).getUint32(0, true);
}

export function prefixMask(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join(".");
}

export interface IfConfig {
  /** IPv4 address and prefix length; none: leave the addresses alone. */
  address?: { ip: string; prefix: number };
  /** Default route through this gateway. */
  gateway?: string;
}

/** The ioctl each failed step of shim_if_config names. */
const IF_STEP_CALL: Readonly<Record<number, string>> = {
  [IF_STEP.ADDRESS]: "SIOCSIFADDR",
  [IF_STEP.UP]: "SIOCSIFFLAGS",
  [IF_STEP.ROUTE]: "SIOCADDRT",
};

/** Sets an interface's address (optional), brings it up, adds a default route (optional). */
export function ifConfig(name: string, c: IfConfig = {}): void {
  const step = new Int32Array(1);
  const r = shim().shim_if_config(
    cstr(name),
    c.address ? be(c.address.ip) : 0,
    c.address ? be(prefixMask(c.address.prefix)) : 0,
    c.gateway ? be(c.gateway) : 0,
    step,
  );
  check(
    r,
    IF_STEP_CALL[step[0]] ?? "if_config",
    step[0] === IF_STEP.ROUTE ? `${name} via ${c.gateway}` : name,
  );
}
