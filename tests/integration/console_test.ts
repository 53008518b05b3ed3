/**
 * The VM console's multiplexer driven as a user would, through a real terminal: a tmux pane whose
 * program only holds its tty (and says which it is), given to dist/acond --dev --interactive as
 * --console; keys are typed into the pane, the screen is read from it. Real busybox containers
 * on their own terminals; the debug shell is the host's real /bin/sh.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { image, waitExited, type World, world } from "../helpers/containers.ts";
import { startTmux, type Tmux, waitForFile } from "../helpers/tmux.ts";

const HOTKEY = [0x1b, 0x0f, 0x78]; // Ctrl+Alt+O, then x

async function stty(path: string): Promise<string> {
  const o = await new Deno.Command("stty", { args: ["-F", path, "-a"], stdout: "piped" }).output();
  return new TextDecoder().decode(o.stdout);
}

/** A pane that holds its tty; a dev daemon whose console it is. */
function consoleTest(
  name: string,
  extra: string[],
  fn: (w: World, t: Tmux, tty: string) => Promise<void>,
) {
  Deno.test(name, async () => {
    const dir = await Deno.makeTempDir({ prefix: "console-" });
    const t = await startTmux(`sh -c 'tty > ${dir}/tty; exec sleep 100000'`, {
      rows: 40,
      cols: 130,
    });
    let w: World | null = null;
    try {
      const tty = (await waitForFile(`${dir}/tty`)).trim();
      assertMatch(tty, /^\/dev\/pts\/\d+$/);
      const before = await stty(tty);
      w = await world({ args: ["--interactive", "--console", tty, ...extra] });
      await t.waitFor(/\[Acond\]: $/m);
      await fn(w, t, tty);
      await w.d.stop();
      w = null;
      // The daemon gone, the console has its own settings back.
      assertEquals(await stty(tty), before);
    } finally {
      if (w) await w.d.stop();
      await t.kill();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const line = async (t: Tmux, text: string) => {
  await t.type(text);
  await t.keys("Enter");
};

consoleTest(
  "console: list, enter, a command, detach with the hotkey, re-enter with the scrollback, exits",
  [],
  async (w, t) => {
    const img = await image(w, { entrypoint: ["/bin/sh"] });
    const id = (await w.c.start({ imageId: img })).containerId;
    await t.waitFor(new RegExp(`\\[new terminal ${id}/0: enter ${id}/0\\]`));
    await line(t, "list");
    await t.waitFor(/ID\s+CONTAINER\s+IMAGE\s+COMMAND\s+STATE\s+ATTACHED/);
    await t.waitFor(
      new RegExp(`^${id}/0\\s+${id}\\s+\\S{16}\\s+/bin/sh\\s+running\\s+0\\s*$`, "m"),
    );

    await line(t, `enter ${id}`);
    await t.waitFor(
      new RegExp(`\\[entering terminal ${id}/0; leave with Ctrl\\+Alt\\+O then x\\]`),
    );
    await t.waitFor(/\/ # $/m); // the shell's prompt, from the scrollback
    await line(t, "stty size; echo $((6*7))");
    await t.waitFor(/^40 130$/m); // the console's size, given on enter
    await t.waitFor(/^42$/m);
    // Attached: the API's list counts the console.
    const listed = (await w.c.listTerminals({})).terminals.find((x) =>
      x.terminal?.containerId === id
    );
    assertEquals(listed?.attached, 1);
    await t.bytes(...HOTKEY);
    await t.waitFor(new RegExp(`\\[left terminal ${id}/0\\]\\n\\[Acond\\]: $`, "m"));

    // Output while nobody watches goes to the scrollback: clear the pane, then re-enter.
    await w.c.writeTerminal({
      terminal: { containerId: id, session: 0 },
      data: new TextEncoder().encode("echo away-$((1+2))\n"),
    });
    await t.keys("C-l");
    await t.clearHistory();
    const cleared = await t.screen();
    assert(!cleared.includes("away-3"), cleared);
    await line(t, `e ${id}/0`);
    await t.waitFor(/^away-3$/m);

    // Its process exits while entered: announced, the prompt is back.
    await line(t, "exit 3");
    await t.waitFor(
      new RegExp(`\\[terminal ${id}/0 exited: exit status 3\\]\\n\\[Acond\\]: $`, "m"),
    );
    await waitExited(w, id);

    // Another terminal's exit is announced at the prompt.
    const other = (await w.c.start({ imageId: img })).containerId;
    await t.waitFor(new RegExp(`\\[new terminal ${other}/0`));
    await w.c.kill({ containerId: other, signalNum: 9 });
    await t.waitFor(new RegExp(`\\[terminal ${other}/0 exited: killed by signal 9\\]`));

    // acond's own log, and no shell without acond.debug_shell.
    await line(t, "log 200");
    await t.waitFor(/acond\[info\] console multiplexer on \/dev\/pts\/\d+/);
    await line(t, "shell");
    await t.waitFor(/no shell: the console is not a shell into the VM/);
    const bootLine = (await Deno.readTextFile(`${w.d.root}/rtmr/rtmr3.log`)).split("\n")
      .find((l) => l.startsWith("acond Boot "))!;
    assertMatch(bootLine, /"interactive":true,"debug_console":false/);
  },
);

consoleTest(
  "console: an interactive Exec's terminal; the hotkey's x in a later read, a cancelled hotkey passed on",
  [],
  async (w, t) => {
    const id = (await w.c.start({ imageId: await image(w) })).containerId;
    const r = await w.c.exec({
      containerId: id,
      command: "Sh",
      arguments: ["exec sh"],
      envs: ["PATH=/bin"],
      timeout: 0n,
      stdin: new Uint8Array(),
      captureSize: 0n,
    });
    await t.waitFor(new RegExp(`\\[new terminal ${id}/${r.session}`));
    await line(t, `enter ${id}/${r.session}`);
    await t.waitFor(/\/ # $/m);
    // Ctrl+Alt+O then e: cancelled, the e is typed.
    await t.bytes(0x1b, 0x0f);
    await t.type("e");
    await line(t, "cho $((6*7))"); // "e" + "cho ..." = echo ...
    await t.waitFor(/^42$/m);
    // The x in a later read than the pair still detaches (the pair waits for it).
    await t.bytes(0x1b, 0x0f);
    await t.bytes(0x78);
    await t.waitFor(new RegExp(`\\[left terminal ${id}/${r.session}\\]`));
  },
);

consoleTest(
  "console: with --debug-shell, shell is a root shell on the host, measured as debug_console",
  ["--debug-shell"],
  async (w, t) => {
    await line(t, "help");
    await t.waitFor(/shell\s+a root shell in the VM \(acond\.debug_shell is on\)/);
    await line(t, "shell");
    await t.waitFor(/\[entering the debug shell; leave with Ctrl\+Alt\+O then x\]/);
    await t.waitFor(/acond-debug# $/m);
    await line(t, "echo uid=$(id -u) pid1=$(cat /proc/1/comm) $((6*7))");
    await t.waitFor(/^uid=0 pid1=\S+ 42$/m);
    await t.bytes(...HOTKEY);
    await t.waitFor(/\[left the debug shell\]/);
    // Still running: entering again shows its recent output.
    await t.keys("C-l");
    await t.clearHistory();
    await line(t, "shell");
    await t.waitFor(/^uid=0 pid1=\S+ 42$/m);
    await line(t, "exit 4");
    await t.waitFor(/\[the debug shell exited: exit status 4\]\n\[Acond\]: $/m);
    const bootLine = (await Deno.readTextFile(`${w.d.root}/rtmr/rtmr3.log`)).split("\n")
      .find((l) => l.startsWith("acond Boot "))!;
    assertMatch(bootLine, /"interactive":true,"debug_console":true/);
  },
);
