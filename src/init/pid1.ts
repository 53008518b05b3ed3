/**
 * PID-1 mode: the VM's init. `runInit` is the boot in order (docs/boot.md), one named phase a
 * line; the phases live in their files: mounts, kernel log (kmsg), command line, modules,
 * network, power-down and its signals (shutdown), the daemon, activity (idle timer, first
 * request), listeners, the ready line (phases), vsock, test faults. Modules of the `after` phase
 * load on first use (overlay: container Start). PID 1 never exits: errors are logged and serving
 * goes on; if acond cannot go on at all it powers off (or reboots, acond.on_fatal), never panics
 * the kernel.
 *
 * The whole boot path is imported statically: one module graph, loaded and compiled in one go
 * (each dynamic import is a separate load, which costs under emulation). Nothing here touches
 * the system at import time; /proc is already mounted by the static /init launcher. Handlers
 * for images, containers and reports load on first use (api/deferred.ts).
 */
import { mountEarly, type MountReport } from "./mounts.ts";
import { log, setLogLevel } from "../util/log.ts";
import { logToKernel } from "./kmsg.ts";
import { type BootConfig, parseCmdline } from "./cmdline.ts";
import * as sys from "../sys/init.ts";
import { parseLoadList } from "./modules.ts";
import { ModuleLoader } from "./module_loader.ts";
import { configureNetwork } from "./network.ts";
import { PowerDown, powerOnSignals } from "./shutdown.ts";
import { ListenerSupervisor } from "./listeners.ts";
import { type Daemon, startDaemon } from "../daemon.ts";
import { DEFAULT_MAX_REQUEST_BYTES } from "../options.ts";
import { serveTcp, serveUnix } from "../api/server.ts";
import { watchActivity } from "./activity.ts";
import { BootPhases, logReady } from "./phases.ts";
import { startVsock } from "./vsock.ts";
import { injectFaults } from "./faults.ts";

const ROOT = "/run/acond";
const SOCKET = "/run/acond/acond.sock";
const MODULE_DIR = "/lib/modules/acond";

export async function runInit(_args: string[]): Promise<void> {
  const phases = new BootPhases(); // "load": Deno's start-up and the loading of this graph
  const mounts = mountEarly();
  phases.step("mounts");
  logToKernel();
  guardProcess();
  logMounts(mounts);
  phases.step("kmsg");
  const config = readBootConfig();
  disableCtrlAltDel();
  phases.step("cmdline");
  phases.mark("early");

  const modules = moduleLoader();
  await modules?.load(["boot"]);
  phases.mark("modules");
  configureNetwork(config.ip);
  phases.mark("network");
  // TDX guest support must be in before the TEE is chosen; acond.tee=sim needs none of it.
  if (config.tee !== "sim") {
    await modules?.load(["tee"]);
    phases.mark("tee modules");
  }

  const supervisor = new ListenerSupervisor();
  // Until the daemon is up there are no children; then its reaper owns waitpid.
  let daemon: Daemon | null = null;
  const power = new PowerDown({
    stopListeners: () => (daemon?.endStreams(), supervisor.stop()),
    stopContainers: (ms) => daemon?.stopContainers(ms) ?? Promise.resolve(false),
    reapNow: () => daemon?.reaper.reapNow(),
  });
  powerOnSignals(power);

  daemon = await startPid1Daemon(config, modules, power, phases);
  if (!daemon) return; // powering off (acond.on_fatal)
  // Every orphan in the VM becomes our child: the daemon's one reaper collects them all.
  daemon.reaper.start({ subreaper: false });
  phases.mark("daemon");

  const routes = daemon.routes;
  watchActivity(routes, config.timeout, power);
  phases.step("idle timer"); // the first timer: the runtime loads its timers module (node:timers)
  await supervisor.add(
    { name: "unix", start: () => serveUnix(SOCKET, routes, daemon.serveConfig) },
    daemon.listeners[0],
  );
  // The command line's listeners, or an accepted launch configuration's (attest/launch.ts).
  const { tcp, vsock } = daemon.ctx.opts;
  if (tcp) {
    // Made since the boot's measurement; its time left after the daemon's goes on the ready line.
    // A failure is the listener's to report (and retry).
    if (daemon.tls) {
      await daemon.tls.catch(() => {});
      phases.step("tls identity");
    }
    await supervisor.add({
      name: "tcp",
      start: async () =>
        serveTcp(
          tcp.hostname,
          tcp.port,
          routes,
          daemon.peerGuards.tcp,
          daemon.serveConfig,
          (await daemon.tls) ?? undefined,
        ),
    });
  } else log.info("no TCP listener (the launch configuration turns it off)");
  phases.mark("listeners");
  logReady(phases, { tcpPort: tcp?.port ?? 0, tee: daemon.ctx.tee.kind, timeout: config.timeout });

  if (vsock != null) {
    startVsock(vsock, routes, daemon.peerGuards.vsock, daemon.serveConfig, supervisor, modules, {
      tls: daemon.tls,
    });
  }
  injectFaults(config.testFaults, supervisor.listeners);
  // Keep the event loop alive forever: PID 1 must not return.
  setInterval(() => {}, 1 << 30);
}

/** Where QEMU's `-fw_cfg name=opt/acond/config,file=...` appears (module qemu_fw_cfg). */
export const LAUNCH_CONFIG_FW_CFG = "/sys/firmware/qemu_fw_cfg/by_name/opt/acond/config/raw";

/**
 * The launch configuration the host delivered through fw_cfg, if any (applied only when its
 * SHA-384 is the TD's MRCONFIGID: attest/launch.ts), and the sim TEE's MRCONFIGID for tests.
 */
function launchDelivery(
  config: BootConfig,
): { launchConfig?: Uint8Array; simMrConfigId?: Uint8Array } {
  const out: { launchConfig?: Uint8Array; simMrConfigId?: Uint8Array } = {};
  if (config.simMrConfigId) out.simMrConfigId = config.simMrConfigId;
  try {
    out.launchConfig = Deno.readFileSync(LAUNCH_CONFIG_FW_CFG);
    log.info(`launch configuration: ${out.launchConfig.length} bytes from fw_cfg opt/acond/config`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      // Present but unreadable: as a refused document (fail closed), not as none.
      out.launchConfig = new TextEncoder().encode(`unreadable: ${(e as Error).message}`);
      log.error(`launch configuration in fw_cfg unreadable: ${(e as Error).message}`);
    }
  }
  return out;
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

function logMounts(m: MountReport): void {
  for (const n of m.notes) log.warn(n);
  for (const f of m.failed) log.error(`mount ${f}`);
  log.info(`mounted ${m.mounted.join(" ") || "nothing"}${m.usedFstab ? " (from /etc/fstab)" : ""}`);
}

/** /proc/cmdline, parsed; what is wrong in it is reported and replaced by the default. */
function readBootConfig(): BootConfig {
  let cmdline = "";
  try {
    cmdline = Deno.readTextFileSync("/proc/cmdline");
  } catch (e) {
    log.error(`cannot read /proc/cmdline: ${(e as Error).message}; using the defaults`);
  }
  const { config, problems } = parseCmdline(cmdline);
  setLogLevel(config.logLevel);
  for (const p of problems) log.error(p);
  if (config.debugShell && !config.interactive) {
    log.warn("acond.debug_shell ignored: the console's shell needs acond.interactive");
  }
  return config;
}

/** ctrl-alt-del becomes SIGINT to us (→ graceful reboot), not an instant reboot. */
function disableCtrlAltDel(): void {
  try {
    sys.reboot(sys.RB.DISABLE_CAD);
  } catch (e) {
    log.warn(`ctrl-alt-del: ${(e as Error).message}`);
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

/**
 * The daemon as PID 1, with power-down and the module loader as its platform; TCP and vsock are
 * left to the supervisor (it restarts them). Null when it cannot start: the fatal power action
 * (acond.on_fatal) has then run.
 */
async function startPid1Daemon(
  config: BootConfig,
  modules: ModuleLoader | null,
  power: PowerDown,
  phases: BootPhases,
): Promise<Daemon | null> {
  try {
    return await startDaemon({
      root: ROOT,
      socket: SOCKET,
      // Opened by the supervisor (main above) from the effective options, which an accepted
      // launch configuration may change.
      tcp: { hostname: "0.0.0.0", port: config.tcpPort },
      tls: config.tls,
      vsock: config.vsockPort,
      tee: config.tee,
      minHash: config.minHash,
      pid1: true,
      maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
      logLevel: config.logLevel,
      interactive: config.interactive,
      debugShell: config.interactive && config.debugShell,
      // Interactive mode (the command line's or the launch configuration's): the multiplexer on
      // the VM's console (console/mux/).
      console: "/dev/console",
      limits: config.limits,
      conn: config.conn,
      ...launchDelivery(config),
    }, {
      power: (kind, graceMs, reason) => void power.run(kind, graceMs, reason),
      ensureModule: (name) => modules?.ensure(name) ?? Promise.resolve(),
      step: (name) => phases.step(name),
    });
  } catch (e) {
    log.error(`acond cannot start: ${(e as Error).message}; ${config.onFatal}`);
    await power.run(config.onFatal, 0, "fatal start-up error");
    return null;
  }
}
