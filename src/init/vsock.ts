/**
 * The vsock listener of PID 1: only when the VM has a virtio-vsock device, and only after boot.
 * Its transport driver is an `after` module (init/module_loader.ts), loaded on demand here; the
 * listener (api/server.ts's serveVsock) is then supervised like the others.
 */
import { type Route, type ServeConfig, serveVsock, type TlsCert } from "../api/server.ts";
import type { PeerGuard } from "../api/peer.ts";
import { log } from "../util/log.ts";
import type { ListenerSupervisor } from "./listeners.ts";
import type { ModuleLoader } from "./module_loader.ts";
import { aliasMatches } from "./modules.ts";
import { sysfsModaliases } from "./module_loader.ts";

/** Whether the VM has a virtio-vsock device, bound to a driver or not (by its modalias). */
export function virtioVsockPresent(modaliases: string[] = sysfsModaliases()): boolean {
  return modaliases.some((m) => aliasMatches("virtio:d00000013v*", m)); // VIRTIO_ID_VSOCK 19
}

/** Whether the vsock transport driver has bound a device (the listener can then be served). */
export function haveVsockDevice(): boolean {
  try {
    for (const e of Deno.readDirSync("/sys/bus/virtio/drivers/vmw_vsock_virtio_transport")) {
      if (e.name.startsWith("virtio")) return true;
    }
  } catch { /* no driver */ }
  return false;
}

/** With a vsock device: its driver, then the listener on `port`, in the background. */
export function startVsock(
  port: number,
  routes: Map<string, Route>,
  guard: PeerGuard,
  serve: ServeConfig,
  supervisor: ListenerSupervisor,
  modules: ModuleLoader | null,
  o: { tls?: Promise<TlsCert> | null } = {},
): void {
  if (!virtioVsockPresent()) {
    log.info("no virtio-vsock device: vsock listener not started");
    return;
  }
  void (async () => {
    await modules?.ensure("vmw_vsock_virtio_transport");
    if (!haveVsockDevice()) throw new Error("the virtio-vsock driver did not bind the device");
    // The TCP listener's attested certificate (TLS terminated in-process: api/tls_accept.ts).
    const tls = (await o.tls) ?? undefined;
    await supervisor.add({
      name: "vsock",
      start: () => serveVsock(port, routes, guard, serve, tls),
    });
  })().catch((e) => log.error(`vsock listener: ${(e as Error).message}`));
}
