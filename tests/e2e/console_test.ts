/**
 * The console multiplexer on the VM's real serial console, acond as PID 1 (one TCG boot): QEMU in
 * a tmux pane with the serial line on its stdio, keys typed into the pane. A serial line reports
 * no window size; the initramfs has no /bin/sh, so the debug shell cannot start and says so. A
 * busybox container pushed over the API (TCP, forwarded) gets its terminal, which is entered,
 * typed into, left with the hotkey and entered again (its scrollback shown) over the serial line.
 */
import { assertMatch } from "../helpers/assert.ts";
import { startTmux } from "../helpers/tmux.ts";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { ensureImage, pushBusybox, TOP } from "./qemu.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("console on ttyS0 as PID 1: the prompt, list, size, the debug shell's absence, a container's terminal entered, left and re-entered; measured", async () => {
  await ensureImage();
  const port = freePort();
  const qemu = [
    "qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp 1 -display none -monitor none",
    "-serial stdio -no-reboot -action panic=exit-failure -device pvpanic-pci",
    `-kernel ${TOP}/dist/vmlinuz -initrd ${TOP}/dist/initramfs.cpio.lz4`,
    `-netdev user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:1025 -device virtio-net-pci,netdev=n0,romfile=`,
    `-append "console=ttyS0 panic=-1 quiet acond.tee=sim acond.timeout=0 acond.interactive acond.debug_shell acond.tls=off acond.ip=eth0:10.0.2.15/24:10.0.2.2"`,
  ].join(" ");
  const t = await startTmux(qemu, { rows: 40, cols: 160 });
  try {
    await t.waitFor(/console multiplexer on \/dev\/console \(with the debug shell\)/, 120000);
    await t.waitFor(/acond ready as PID 1/, 120000);
    await t.waitFor(/"interactive":true,"debug_console":true/);
    await t.type("list");
    await t.keys("Enter");
    await t.waitFor(/list\nno terminals\n\[Acond\]: $/m, 60000);
    await t.type("size");
    await t.keys("Enter");
    await t.waitFor(
      /24x80 \(the default: the console reports none; set it with size ROWSxCOLS\)/,
      60000,
    );
    await t.type("size 50x160");
    await t.keys("Enter");
    await t.waitFor(/^size 50x160$/m, 60000);
    await t.type("shell");
    await t.keys("Enter");
    await t.waitFor(
      /\[the debug shell: cannot start the debug shell \/bin\/sh: spawn \(execve\): ENOENT\]\n\[Acond\]: $/m,
      60000,
    );
    // Still answering on the console afterwards.
    await t.type("help");
    await t.keys("Enter");
    const m = await t.waitFor(/shell\s+a root shell in the VM \(acond\.debug_shell is on\)/, 60000);
    assertMatch(m[0], /debug_shell/);

    // A container whose entry point is busybox sh, pushed over the API, on its own terminal.
    const client = createClient(
      AconService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    );
    const imageId = await pushBusybox(client, { entrypoint: ["/bin/sh"] });
    const id = (await client.start({ imageId })).containerId;
    await t.waitFor(new RegExp(`\\[new terminal ${id}/0: enter ${id}/0\\]`), 60000);
    await t.type(`enter ${id}`);
    await t.keys("Enter");
    await t.waitFor(
      new RegExp(`\\[entering terminal ${id}/0; leave with Ctrl\\+Alt\\+O then x\\]`),
      60000,
    );
    await t.type("stty size; echo $((6*7))");
    await t.keys("Enter");
    await t.waitFor(/^50 160$/m, 60000); // the size set at the prompt, given on enter
    await t.waitFor(/^42$/m, 60000);
    await t.bytes(0x1b, 0x0f, 0x78); // Ctrl+Alt+O, then x
    await t.waitFor(new RegExp(`\\[left terminal ${id}/0\\]\\n\\[Acond\\]: $`, "m"), 60000);
    // Output while nobody watches is kept: written over the API, shown when entered again.
    await client.writeTerminal({
      terminal: { containerId: id, session: 0 },
      data: new TextEncoder().encode("echo away-$((1+2))\n"),
    });
    await t.keys("C-l");
    await t.clearHistory();
    await t.type(`e ${id}/0`);
    await t.keys("Enter");
    await t.waitFor(/^away-3$/m, 60000);
    await t.type("exit 3");
    await t.keys("Enter");
    await t.waitFor(new RegExp(`\\[terminal ${id}/0 exited: exit status 3\\]`), 60000);
  } finally {
    await t.kill(); // the pane's QEMU goes with the tmux server
  }
});
