/**
 * Boots dist/vmlinuz + dist/initramfs.cpio.lz4 under QEMU (TCG, -cpu max: CI has no usable KVM)
 * with user networking forwarding the API's TCP port to 127.0.0.1, a pvpanic device that turns a
 * kernel panic into QEMU exit status 1, and a monitor socket for key presses.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { makeSigner } from "../helpers/pki.ts";

export const TOP = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

let built: Promise<void> | null = null;
/** Packs the initramfs once per test process (scripts/initramfs is reproducible and quick). */
export function ensureImage(): Promise<void> {
  built ??= (async () => {
    const out = await new Deno.Command(`${TOP}/scripts/initramfs`, {
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`scripts/initramfs failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
  })();
  return built;
}

/** Packs an extra initramfs at `out` with scripts/initramfs and env (e.g. EXTRA_MODULES). */
export async function packImage(env: Record<string, string>, out: string): Promise<string> {
  const res = await new Deno.Command(`${TOP}/scripts/initramfs`, {
    env: { ...env, OUT: out },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`scripts/initramfs failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  return out;
}

export interface BootOptions {
  /** An initramfs other than dist/initramfs.cpio.lz4 (see packImage). */
  initrd?: string;
  /** More QEMU arguments (e.g. -fw_cfg). */
  qemuArgs?: string[];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface Vm {
  port: number;
  dir: string;
  client: Client<typeof AconService>;
  /** POSTs a raw body to an RPC path; returns the HTTP status and text. */
  post(
    method: string,
    body: string | Uint8Array<ArrayBuffer>,
    type?: string,
  ): Promise<{ status: number; text: string }>;
  serial(): string;
  /** Waits for the serial console to show a line matching re. */
  waitSerial(re: RegExp, ms?: number): Promise<void>;
  /** Waits until the API answers Health. */
  waitReady(ms?: number): Promise<void>;
  /** Sends a key combination through the QEMU monitor (e.g. "ctrl-alt-delete"). */
  sendKey(keys: string): Promise<void>;
  /** Resolves with QEMU's exit code; rejects after ms. */
  waitExit(ms?: number): Promise<number>;
  kill(): Promise<void>;
}

export async function boot(append: string[] = [], opts: BootOptions = {}): Promise<Vm> {
  if (!opts.initrd) await ensureImage();
  const dir = await Deno.makeTempDir({ prefix: "acond-e2e-" });
  const port = freePort();
  const serialPath = `${dir}/serial.log`;
  const monitor = `${dir}/mon.sock`;
  const args = [
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-m",
    "1G",
    "-smp",
    "1",
    "-display",
    "none",
    "-serial",
    `file:${serialPath}`,
    "-no-reboot",
    "-monitor",
    `unix:${monitor},server=on,wait=off`,
    "-action",
    "panic=exit-failure",
    "-device",
    "pvpanic-pci",
    "-kernel",
    `${TOP}/dist/vmlinuz`,
    "-initrd",
    opts.initrd ?? `${TOP}/dist/initramfs.cpio.lz4`,
    "-append",
    [
      "console=ttyS0",
      "panic=-1",
      "quiet",
      "acond.tee=sim",
      "acond.ip=eth0:10.0.2.15/24:10.0.2.2",
      // These helpers speak plain HTTP to the forwarded TCP API: TLS off unless a test says.
      ...(append.some((a) => a.startsWith("acond.tls=")) ? [] : ["acond.tls=off"]),
      ...append,
    ].join(" "),
    "-netdev",
    `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:1025`,
    "-device",
    "virtio-net-pci,netdev=n0,romfile=",
    ...(opts.qemuArgs ?? []),
  ]; // deno-fmt-ignore
  const proc = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const status = proc.status;
  let exited: number | null = null;
  status.then((s) => (exited = s.code));
  const serial = () => {
    try {
      return Deno.readTextFileSync(serialPath);
    } catch {
      return "";
    }
  };
  const client = createClient(
    AconService,
    createConnectTransport({ baseUrl: `http://127.0.0.1:${port}` }),
  );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const vm: Vm = {
    port,
    dir,
    client,
    async post(method, body, type = "application/json") {
      const r = await fetch(`http://127.0.0.1:${port}/acon.grpc.AconService/${method}`, {
        method: "POST",
        headers: { "content-type": type },
        body,
      });
      return { status: r.status, text: await r.text() };
    },
    serial,
    async waitSerial(re, ms = 30_000) {
      const end = Date.now() + ms;
      while (!re.test(serial())) {
        if (Date.now() > end) throw new Error(`serial: no ${re} within ${ms} ms:\n${serial()}`);
        await sleep(100);
      }
    },
    async waitReady(ms = 120_000) {
      const end = Date.now() + ms;
      for (;;) {
        if (exited !== null) {
          throw new Error(`QEMU exited (${exited}) before the API came up:\n${serial()}`);
        }
        try {
          const r = await fetch(`http://127.0.0.1:${port}/acon.grpc.AconService/Health`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{}",
            signal: AbortSignal.timeout(1000),
          });
          await r.body?.cancel();
          if (r.status === 200) return;
        } catch { /* not up yet */ }
        if (Date.now() > end) throw new Error(`API not up within ${ms} ms:\n${serial()}`);
        await sleep(200);
      }
    },
    async sendKey(keys) {
      const c = await Deno.connect({ transport: "unix", path: monitor });
      await c.write(new TextEncoder().encode(`sendkey ${keys}\n`));
      await sleep(300);
      c.close();
    },
    async waitExit(ms = 30_000) {
      let t: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, rej) =>
        t = setTimeout(() => rej(new Error(`QEMU still running after ${ms} ms:\n${serial()}`)), ms)
      );
      try {
        return (await Promise.race([status, timeout])).code;
      } finally {
        clearTimeout(t);
      }
    },
    async kill() {
      if (exited === null) {
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return vm;
}

/** A busybox layer (tests/helpers/busybox.ts), built once per test process. */
let busyboxLayer: Promise<{ tar: Uint8Array; digest: string }> | null = null;

function busybox(): Promise<{ tar: Uint8Array; digest: string }> {
  busyboxLayer ??= (async () => {
    const src = await Deno.makeTempDir();
    try {
      await buildRootfs(src);
      const tar = await tarOf(src);
      return { tar, digest: `sha384/${await sha384hex(tar)}` };
    } finally {
      await Deno.remove(src, { recursive: true });
    }
  })();
  return busyboxLayer;
}

/**
 * Signs a manifest over the busybox layer (`over` sets its fields: entrypoint, signals, ...),
 * loads it into the VM with the layer when missing, and returns the image id.
 */
export async function pushBusybox(
  client: Client<typeof AconService>,
  over: Record<string, unknown>,
): Promise<string> {
  const { tar, digest } = await busybox();
  const m = baseManifest({ layers: [digest], env: ["PATH=/bin"], maxInstances: 0, ...over });
  const r = await client.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
  if (r.missingLayers.length) await client.addBlob({ alg: 2, data: tar });
  return r.imageId;
}
