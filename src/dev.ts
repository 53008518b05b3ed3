/** Dev mode: `acond --dev --root DIR --socket PATH [--tcp HOST:PORT] [--vsock PORT] ...`. */
import { parseArgs } from "node:util";
import {
  type CgroupLimits,
  DEFAULT_LIMITS,
  DEFAULT_MAX_REQUEST_BYTES,
  MIB,
  type Options,
  parseHostPort,
  parseMinHash,
} from "./options.ts";
import { startDaemon } from "./daemon.ts";
import { log, setLogLevel } from "./util/log.ts";
import { ACOND_VERSION } from "./version.ts";
import { fromHex } from "./digest_boot.ts";

const HELP = `acond ${ACOND_VERSION}: the init and runtime of an ACON confidential VM

Usage:
  acond --dev --root DIR --socket PATH [options]   run on an ordinary Linux host (as root)
  acond                                            run as PID 1 of the VM (reads /proc/cmdline)

Options (dev mode):
  --root DIR          state directory (images, layers, containers, event log)
  --socket PATH       Unix socket of the API (created with mode 0600)
  --tcp HOST:PORT     also serve the API on TCP, over TLS with the attested certificate (a
                      key made at start, its quote in the certificate: docs/api.md "Attested
                      TLS"; aconctl --tcp verifies it before any request)
  --tls on|off        TLS on the TCP and vsock listeners (default on); off: plain HTTP,
                      recorded as "tls":false in the boot event (as acond.tls=off).
                      --no-tls: --tls off
  --vsock PORT        also serve the API on vsock, any local CID, over TLS as TCP (needs a
                      vsock transport in the kernel; CID 1, this machine's own processes, is
                      refused)
  --tee auto|tdx|sim  TEE backend (default: auto = tdx when available, else sim)
  --min-hash ALG      weakest certificate/layer hash accepted: sha384 (default), sha256 for
                      ACON-era images
  --max-request MiB   largest unary request (default 64; use the chunked blob upload above it)
  --memory-max MiB    memory.max of each container's cgroup (default 512; 0: only the common
                      limit of all containers, which is the host's memory minus the reserve)
  --pids-max N        pids.max of each container's cgroup (default 1024; 0: only the common limit)
  --reserve-memory MiB  memory kept for acond: its memory.min, and what all containers together
                      cannot use (default 128)
  --reserve-pids N    pids all containers together cannot use (default 512)
  --max-connections N connections each listener holds at once (default 256, and at most a
                      third of the descriptors above a reserve of a quarter of RLIMIT_NOFILE);
                      when full, the oldest idle connection makes room, else the new one is closed
  --header-timeout S  seconds a connection has to deliver a request's headers (default 10)
  --body-timeout S    longest pause in a request body, in seconds (default 30)
  --acpi-tables DIR   where to read the firmware's CC event log (DIR/CCEL and DIR/data/CCEL)
                      that GetEventLog passes through (default /sys/firmware/acpi/tables)
  --launch-config FILE  a launch configuration document (docs/attestation.md, "Launch
                      configuration"): applied only if its SHA-384 is the TD's MRCONFIGID, else
                      every image is refused (Health and Report still answer)
  --sim-mrconfigid HEX  the sim TEE's MRCONFIGID (up to 96 hex digits, zero-padded on the right)
  --log LEVEL         error|warn|info|debug (default info)
  --interactive       interactive mode: entry points (without logFDs 1/2) and Execs with
                      timeout 0 get terminals, reachable by Attach/WriteTerminal (a debug door
                      into the containers; recorded as "interactive":true in the boot event, so
                      a verifier refuses it without --allow-interactive; docs/console.md).
                      Off by default: such an Exec and the terminal RPCs are refused
  --console PATH      with --interactive: run the console multiplexer (as on the VM's console:
                      list, enter, log; docs/console.md) on the terminal PATH, e.g. a /dev/pts/N
  --debug-shell       with --interactive: the console's shell command (a root shell on this
                      host; recorded as "debug_console":true in the boot event)
  --version           print the version
  -h, --help          this help
`;

export async function runDev(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dev: { type: "boolean" },
        root: { type: "string" },
        socket: { type: "string" },
        tcp: { type: "string" },
        tls: { type: "string" },
        "no-tls": { type: "boolean" },
        vsock: { type: "string" },
        tee: { type: "string", default: "auto" },
        "min-hash": { type: "string", default: "sha384" },
        "max-request": { type: "string" },
        "memory-max": { type: "string" },
        "pids-max": { type: "string" },
        "reserve-memory": { type: "string" },
        "reserve-pids": { type: "string" },
        "max-connections": { type: "string" },
        "header-timeout": { type: "string" },
        "body-timeout": { type: "string" },
        log: { type: "string", default: "info" },
        "acpi-tables": { type: "string" },
        "launch-config": { type: "string" },
        "sim-mrconfigid": { type: "string" },
        interactive: { type: "boolean", default: false },
        console: { type: "string" },
        "debug-shell": { type: "boolean", default: false },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`acond: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(`acond ${ACOND_VERSION}`);
    return 0;
  }
  const fail = (m: string) => {
    console.error(`acond: ${m} (see --help)`);
    return 2;
  };
  if (!values.dev) return fail("not PID 1: pass --dev to run on an ordinary host");
  if (!values.root) return fail("--root DIR is required");
  if (!values.socket) return fail("--socket PATH is required");
  if (!["auto", "tdx", "sim"].includes(values.tee!)) return fail(`bad --tee "${values.tee}"`);
  if (!["error", "warn", "info", "debug"].includes(values.log!)) {
    return fail(`bad --log "${values.log}"`);
  }
  if (values.tls !== undefined && values.tls !== "on" && values.tls !== "off") {
    return fail(`bad --tls "${values.tls}" (on or off)`);
  }
  if ((values.console !== undefined || values["debug-shell"]) && !values.interactive) {
    return fail("--console and --debug-shell need --interactive");
  }
  let opts: Options;
  try {
    const maxMiB = values["max-request"] ? Number(values["max-request"]) : 0;
    if (values["max-request"] && !(Number.isInteger(maxMiB) && maxMiB > 0 && maxMiB <= 1024)) {
      return fail(`bad --max-request "${values["max-request"]}" (1..1024 MiB)`);
    }
    const vsock = values.vsock === undefined ? null : Number(values.vsock);
    // VMADDR_PORT_ANY (-1, i.e. 2^32-1) is not a port: the same range as acond.vsock_port.
    if (vsock !== null && !(/^\d{1,10}$/.test(values.vsock!) && vsock <= 0xffff_fffe)) {
      return fail(`bad --vsock "${values.vsock}" (0..4294967294)`);
    }
    const limits: CgroupLimits = { ...DEFAULT_LIMITS };
    const flags: [string, keyof CgroupLimits, number, number][] = [
      ["memory-max", "memoryMax", MIB, 1 << 20],
      ["pids-max", "pidsMax", 1, 1 << 22],
      ["reserve-memory", "reserveMemory", MIB, 1 << 20],
      ["reserve-pids", "reservePids", 1, 1 << 22],
    ];
    for (const [flag, field, unit, max] of flags) {
      const v = (values as unknown as Record<string, string | undefined>)[flag];
      if (v === undefined) continue;
      if (!/^\d{1,10}$/.test(v) || Number(v) > max) return fail(`bad --${flag} "${v}" (0..${max})`);
      limits[field] = Number(v) * unit;
    }
    const conn: NonNullable<Options["conn"]> = {};
    for (
      const [flag, key, scale, max] of [
        ["max-connections", "maxConnections", 1, 65536],
        ["header-timeout", "headerTimeoutMs", 1000, 3600],
        ["body-timeout", "bodyIdleTimeoutMs", 1000, 3600],
      ] as const
    ) {
      const v = values[flag];
      if (v === undefined) continue;
      const n = Number(v);
      if (!(/^\d{1,5}$/.test(v) && n >= 1 && n <= max)) {
        return fail(`bad --${flag} "${v}" (1..${max})`);
      }
      conn[key] = n * scale;
    }
    const mc = values["sim-mrconfigid"];
    if (mc !== undefined && !/^([0-9a-fA-F]{2}){1,48}$/.test(mc)) {
      return fail(`bad --sim-mrconfigid "${mc}" (up to 96 hex digits)`);
    }
    let launchConfig: Uint8Array | undefined;
    if (values["launch-config"] !== undefined) {
      try {
        launchConfig = Deno.readFileSync(values["launch-config"]);
      } catch (e) {
        return fail(
          `cannot read --launch-config ${values["launch-config"]}: ${(e as Error).message}`,
        );
      }
    }
    opts = {
      ...(launchConfig ? { launchConfig } : {}),
      ...(mc !== undefined ? { simMrConfigId: fromHex(mc.toLowerCase()) } : {}),
      limits,
      conn,
      root: values.root.replace(/\/+$/, "") || "/",
      socket: values.socket,
      tcp: values.tcp ? parseHostPort(values.tcp) : null,
      tls: !(values["no-tls"] === true || values.tls === "off"),
      vsock,
      tee: values.tee as Options["tee"],
      minHash: parseMinHash(values["min-hash"]!),
      pid1: false,
      maxRequestBytes: maxMiB ? maxMiB * 1024 * 1024 : DEFAULT_MAX_REQUEST_BYTES,
      logLevel: values.log as Options["logLevel"],
      interactive: values.interactive === true,
      debugShell: values["debug-shell"] === true,
      console: values.console,
      acpiTables: values["acpi-tables"],
    };
  } catch (e) {
    return fail((e as Error).message);
  }
  setLogLevel(opts.logLevel);
  let daemon;
  try {
    daemon = await startDaemon(opts);
  } catch (e) {
    console.error(`acond: cannot start: ${(e as Error).message}`);
    return 1;
  }
  log.info(`acond ${ACOND_VERSION} ready (dev mode, root ${opts.root})`);
  const stop = new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => resolve());
  });
  await stop;
  log.info("stopping");
  await daemon.shutdown();
  return 0;
}
