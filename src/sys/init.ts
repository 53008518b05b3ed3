/** Typed wrappers over ffi/init.c. */
import { check } from "./errors.ts";
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

export function ifUp(name: string): void {
  check(shim().shim_if_up(cstr(name)), "SIOCSIFFLAGS", name);
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

export function ifAddr(name: string, address: string, prefix: number): void {
  check(shim().shim_if_addr(cstr(name), be(address), be(prefixMask(prefix))), "SIOCSIFADDR", name);
}

export function routeDefault(gateway: string): void {
  check(shim().shim_route_default(be(gateway)), "SIOCADDRT", gateway);
}
