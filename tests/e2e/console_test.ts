/**
 * The console multiplexer on the VM's real serial console, acond as PID 1 (one TCG boot): QEMU in
 * a tmux pane with the serial line on its stdio, keys typed into the pane. A serial line reports
 * no window size; the initramfs has no /bin/sh, so the debug shell cannot start and says so.
 */
import { assertMatch } from "../helpers/assert.ts";
import { startTmux } from "../helpers/tmux.ts";
import { ensureImage, TOP } from "./qemu.ts";

Deno.test("console on ttyS0 as PID 1: the prompt, list, size, the debug shell's absence; measured", async () => {
  await ensureImage();
  const qemu = [
    "qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp 1 -display none -monitor none",
    "-serial stdio -no-reboot -action panic=exit-failure -device pvpanic-pci",
    `-kernel ${TOP}/dist/vmlinuz -initrd ${TOP}/dist/initramfs.cpio.lz4`,
    "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=",
    `-append "console=ttyS0 panic=-1 quiet acond.tee=sim acond.timeout=0 acond.interactive acond.debug_shell"`,
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
  } finally {
    await t.kill(); // the pane's QEMU goes with the tmux server
  }
});
