/**
 * PID-1 mode: the VM's init. Order (docs/boot.md): /proc and the other early mounts, the /dev
 * links, the kernel command line, the boot-phase kernel modules, network, the TEE's modules
 * (unless acond.tee=sim), signals and reaping, the daemon with its listeners, the idle timer;
 * then, with a virtio-vsock device, its driver and the vsock listener. Other modules load on
 * first use (overlay: container Start). PID 1 never exits: errors are logged and serving goes on; if
 * acond cannot go on at all it powers off (or reboots, acond.on_fatal), never panics the kernel.
 *
 * The whole boot path is imported statically: one module graph, loaded and compiled in one go
 * (each dynamic import is a separate load, which costs under emulation). Nothing here touches
 * the system at import time; /proc is already mounted by the static /init launcher. Handlers
 * for images, containers and reports load on first use (api/deferred.ts).
 */
import { mountEarly } from "./mounts.ts";
import { addLogSink, log, setLogLevel } from "../util/log.ts";
import { kmsgSink } from "./kmsg.ts";
import { parseCmdline, type StaticIp } from "./cmdline.ts";
import * as sys from "../sys/init.ts";
import { parseLoadList } from "./modules.ts";
import { ModuleLoader } from "./module_loader.ts";
import { childPids, powerDown } from "./shutdown.ts";
import { haveVsockDevice, ListenerSupervisor, virtioVsockPresent } from "./listeners.ts";
import { DEFAULT_GRACE_MS, type PowerKind } from "./power.ts";
import { handledSignals, signalAction } from "./signals.ts";
import { IdleTimer } from "./idle.ts";
import { type Daemon, startDaemon } from "../daemon.ts";
import { DEFAULT_MAX_REQUEST_BYTES } from "../options.ts";
import { serveTcp, serveUnix, serveVsock } from "../api/server.ts";

const ROOT = "/run/acond";
const SOCKET = "/run/acond/acond.sock";
const MODULE_DIR = "/lib/modules/acond";

export async function runInit(_args: string[]): Promise<void> {
  // performance.now() counts from the process's start: "load" is Deno's start-up and the loading
  // of this module graph, before any of acond's code ran.
  const phases: string[] = [`load ${performance.now().toFixed(0)}`];
  let tPhase = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases.push(`${name} ${(now - tPhase).toFixed(0)}`);
    tPhase = now;
  };
  const m = mountEarly();
  // From here on the kernel log (and so the serial console) carries acond's own lines too.
  // /dev/kmsg drops writers' records beyond 10 per 5 s unless told otherwise (printk.devkmsg);
  // acond's boot alone writes more. A cmdline setting locks the sysctl, and wins.
  try {
    Deno.writeTextFileSync("/proc/sys/kernel/printk_devkmsg", "on\n");
  } catch { /* locked by printk.devkmsg= on the cmdline */ }
  const sink = kmsgSink();
  if (sink) addLogSink(sink);
  guardProcess();
  for (const n of m.notes) log.warn(n);
  for (const f of m.failed) log.error(`mount ${f}`);
  log.info(`mounted ${m.mounted.join(" ") || "nothing"}${m.usedFstab ? " (from /etc/fstab)" : ""}`);

  let cmdline = "";
  try {
    cmdline = Deno.readTextFileSync("/proc/cmdline");
  } catch (e) {
    log.error(`cannot read /proc/cmdline: ${(e as Error).message}; using the defaults`);
  }
  const { config, problems } = parseCmdline(cmdline);
  setLogLevel(config.logLevel);
  for (const p of problems) log.error(p);

  try {
    sys.reboot(sys.RB.DISABLE_CAD); // ctrl-alt-del becomes SIGINT to us (→ graceful reboot)
  } catch (e) {
    log.warn(`ctrl-alt-del: ${(e as Error).message}`);
  }
  phase("early");
  const modules = moduleLoader();
  await modules?.load(["boot"]);
  phase("modules");
  configureNetwork(config.ip);
  phase("network");
  // TDX guest support must be in before the TEE is chosen; acond.tee=sim needs none of it.
  if (config.tee !== "sim") {
    await modules?.load(["tee"]);
    phase("tee modules");
  }

  const supervisor = new ListenerSupervisor();
  // Until the daemon is up there are no children; then its reaper owns waitpid.
  let daemon: Daemon | null = null;
  const down = (kind: PowerKind, graceMs: number, reason: string) =>
    powerDown(kind, graceMs, reason, {
      stopListeners: () => supervisor.stop(),
      stopContainers: (ms) => daemon?.stopContainers(ms) ?? Promise.resolve(false),
      reapNow: () => daemon?.reaper.reapNow(),
    }).catch((e) => log.error(`power-down: ${(e as Error).message}`));
  for (const sig of handledSignals(true)) {
    Deno.addSignalListener(sig, () => {
      const action = signalAction(sig, true);
      if (action === "poweroff" || action === "reboot") {
        void down(action, DEFAULT_GRACE_MS, `${sig} received`);
      }
    });
  }

  try {
    daemon = await startDaemon({
      root: ROOT,
      socket: SOCKET,
      tcp: null, // the supervisor owns TCP (restarts it if it dies)
      tee: config.tee,
      minHash: config.minHash,
      pid1: true,
      maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
      logLevel: config.logLevel,
      interactive: config.interactive,
    }, {
      power: (kind, graceMs, reason) => void down(kind, graceMs, reason),
      ensureModule: (name) => modules?.ensure(name) ?? Promise.resolve(),
    });
  } catch (e) {
    log.error(`acond cannot start: ${(e as Error).message}; ${config.onFatal}`);
    await down(config.onFatal, 0, "fatal start-up error");
    return;
  }
  // Every orphan in the VM becomes our child: the daemon's one reaper collects them all.
  daemon.reaper.start({ subreaper: false });
  phase("daemon");
  const routes = daemon.routes;
  const idle = new IdleTimer(
    config.timeout * 1000,
    () => childPids().length > 0,
    () => void down("poweroff", DEFAULT_GRACE_MS, `idle for ${config.timeout} s (acond.timeout)`),
  );
  // Every request counts as activity for the idle timer (wrapping the shared route table). The
  // first one is logged with its timing (boot-to-first-answer is what a host waits for).
  let first = true;
  for (const [path, route] of routes) {
    routes.set(path, async (req) => {
      idle.begin();
      const t = performance.now();
      try {
        return await route(req);
      } finally {
        idle.end();
        if (first) {
          first = false;
          const now = performance.now();
          log.info(
            `first request (${path.slice(path.lastIndexOf("/") + 1)}) answered at ` +
              `${now.toFixed(0)} ms, in ${(now - t).toFixed(0)} ms`,
          );
        }
      }
    });
  }
  await supervisor.add(
    { name: "unix", start: () => serveUnix(SOCKET, routes) },
    daemon.listeners[0],
  );
  await supervisor.add({
    name: "tcp",
    start: () => serveTcp("0.0.0.0", config.tcpPort, routes),
  });
  phase("listeners");
  let uptime = "?";
  let rss = "?";
  try {
    uptime = Deno.readTextFileSync("/proc/uptime").split(" ")[0];
    const kb = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
    if (kb) rss = (Number(kb) / 1024).toFixed(1);
  } catch { /* informational */ }
  log.info(
    `acond ready as PID 1 in ${performance.now().toFixed(0)} ms (uptime ${uptime} s, ` +
      `rss ${rss} MiB): tcp ${config.tcpPort}, tee ${daemon.ctx.tee.kind}, ` +
      `idle timeout ${config.timeout || "off"}; ms per phase: ${phases.join(", ")}`,
  );
  // The `after` modules load on demand (init/module_loader.ts): vsock's only with a vsock device.
  if (virtioVsockPresent()) {
    void (async () => {
      await modules?.ensure("vmw_vsock_virtio_transport");
      if (!haveVsockDevice()) throw new Error("the virtio-vsock driver did not bind the device");
      await supervisor.add({ name: "vsock", start: () => serveVsock(config.vsockPort, routes) });
    })().catch((e) => log.error(`vsock listener: ${(e as Error).message}`));
  } else log.info("no virtio-vsock device: vsock listener not started");
  injectFaults(config.testFaults, supervisor.listeners);
  // Keep the event loop alive forever: PID 1 must not return.
  setInterval(() => {}, 1 << 30);
}

/** An uncaught exception or rejection is logged; PID 1 keeps serving. */
function guardProcess(): void {
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error(`uncaught exception: ${describe(e.error ?? e.message)}`);
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error(`unhandled rejection: ${describe(e.reason)}`);
  });
}

function describe(x: unknown): string {
  return x instanceof Error ? (x.stack ?? x.message) : String(x);
}

function injectFaults(
  faults: string[],
  listeners: { addr: string; shutdown(): Promise<void> }[],
): void {
  for (const f of faults) {
    log.warn(`test fault injected: ${f}`);
    if (f === "throw") {
      setTimeout(() => {
        throw new Error("injected uncaught exception (acond.test_fault=throw)");
      }, 10);
    }
    if (f === "sigterm") {
      // The kernel delivers a signal from PID 1 to itself only because a handler is installed:
      // the same path as `kill -TERM 1` from a process in the VM.
      setTimeout(() => Deno.kill(Deno.pid, "SIGTERM"), 1000);
    }
    if (f === "listener") {
      // A listener whose server ends on its own (as after an accept error): it must come back.
      const tcp = listeners.find((l) => l.addr.startsWith("tcp:"));
      setTimeout(() => void tcp?.shutdown(), 30);
    }
    if (f === "reject") {
      setTimeout(() => {
        Promise.reject(new Error("injected unhandled rejection (acond.test_fault=reject)"));
      }, 20);
    }
  }
}

/** The initramfs's module plan with a loader, or null when the image has none. */
function moduleLoader(): ModuleLoader | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${MODULE_DIR}/order`);
  } catch {
    log.info(`no ${MODULE_DIR}/order: no kernel modules to load`);
    return null;
  }
  try {
    return new ModuleLoader(MODULE_DIR, parseLoadList(text), sys.finitModule);
  } catch (e) {
    log.error(`${MODULE_DIR}/order: ${(e as Error).message}; no kernel modules loaded`);
    return null;
  }
}

function configureNetwork(ip: StaticIp | null): void {
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
