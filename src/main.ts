/**
 * acond's entry point. In PID-1 mode nothing may touch /proc (or load node:* modules) before the
 * init code has mounted it, so this module imports nothing statically and loads the rest with
 * dynamic imports once it knows the mode.
 */
const args = Deno.args;
const pid1 = Deno.pid === 1 || args.includes("--init");

if (pid1) {
  try {
    const { runInit } = await import("./init/pid1.ts");
    await runInit(args);
  } catch (e) {
    // The boot code could not even load (a broken image): nothing can serve. PID 1 must not
    // exit (the kernel would panic): power off, through libc alone.
    console.error(`acond: fatal: ${e instanceof Error ? e.stack : e}; powering off`);
    lastResortPowerOff();
  }
} else {
  const { runDev } = await import("./dev.ts");
  Deno.exitCode = await runDev(args);
}

function lastResortPowerOff(): void {
  try {
    const libc = Deno.dlopen("libc.so.6", {
      sync: { parameters: [], result: "void" },
      reboot: { parameters: ["i32"], result: "i32" },
    });
    libc.symbols.sync();
    libc.symbols.reboot(0x4321fedc); // RB_POWER_OFF
  } catch (e) {
    console.error(`acond: cannot power off: ${e}`);
  }
  setInterval(() => {}, 1 << 30); // if still here: stay, never exit
}
