/** measureBoot: the boot event records interactive mode and the console's debug shell. */
import { assertEquals } from "../../helpers/assert.ts";
import { measureBoot } from "../../../src/attest/boot.ts";
import { EventLog } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { parseBootEvent } from "../../../src/attest/bootevent.ts";
import type { Options } from "../../../src/options.ts";

async function bootFacts(over: Partial<Options>) {
  const dir = await Deno.makeTempDir();
  try {
    const opts: Options = {
      root: dir,
      socket: `${dir}/s`,
      tcp: null,
      tee: "sim",
      minHash: "sha384",
      pid1: false,
      maxRequestBytes: 1 << 20,
      logLevel: "error",
      ...over,
    };
    const log = new EventLog(`${dir}/rtmr3.log`, new SimTee());
    await measureBoot(opts, new SimTee(), log);
    const lines = (await Deno.readTextFile(`${dir}/rtmr3.log`)).trim().split("\n");
    return parseBootEvent(lines.find((l) => l.startsWith("acond Boot "))!)!;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("boot event: debug_console is the console's shell, which exists only in interactive mode", async () => {
  const off = await bootFacts({});
  assertEquals([off.interactive, off.debugConsole], [false, false]);
  const inter = await bootFacts({ interactive: true });
  assertEquals([inter.interactive, inter.debugConsole], [true, false]);
  const shell = await bootFacts({ interactive: true, debugShell: true });
  assertEquals([shell.interactive, shell.debugConsole], [true, true]);
  // acond.debug_shell without acond.interactive: no console, no shell, nothing to record.
  const alone = await bootFacts({ debugShell: true });
  assertEquals([alone.interactive, alone.debugConsole], [false, false]);
});
