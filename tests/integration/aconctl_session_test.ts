/**
 * aconctl attach and exec -it as a user runs them: in a real terminal (a tmux pane) against the
 * real dist/acond --dev --interactive with busybox containers. The pane's own settings are read
 * with stty before and after: every way out restores them.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { image, info, waitExited, type World, world } from "../helpers/containers.ts";
import { TOP } from "../helpers/daemon.ts";
import { startTmux, waitForFile } from "../helpers/tmux.ts";

const ACONCTL = `${TOP}/dist/aconctl`;
const HOTKEY = [0x1b, 0x0f, 0x78]; // Ctrl+Alt+O, then x

/** A pane that saves its stty, runs `aconctl ARGS`, saves its status and its stty again. */
async function session(w: World, dir: string, args: string) {
  const script = `stty -a > ${dir}/before; ${ACONCTL} --socket ${w.d.socket} ${args}; ` +
    `echo $? > ${dir}/rc; stty -a > ${dir}/after; exec sleep 100000`;
  return await startTmux(`sh -c '${script}'`, { rows: 40, cols: 120 });
}

function sessionTest(name: string, fn: (w: World, dir: string) => Promise<void>) {
  Deno.test(name, async () => {
    const w = await world({ args: ["--interactive"] });
    const dir = await Deno.makeTempDir({ prefix: "aconctl-session-" });
    try {
      await fn(w, dir);
    } finally {
      await w.d.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

sessionTest(
  "aconctl exec -it: a prompt, echo $((6*7)) gives 42, the hotkey detaches, stty unchanged",
  async (w, dir) => {
    const id = (await w.c.start({ imageId: await image(w) })).containerId;
    const t = await session(w, dir, `exec -it ${id} Sh "exec sh"`);
    try {
      await t.waitFor(/\[attached to \d+\/\d+; detach with Ctrl\+Alt\+O then x\]/);
      await t.waitFor(/\/ # $/m);
      // The remote's terminal has the pane's size.
      await t.type("stty size; echo $((6*7))");
      await t.keys("Enter");
      await t.waitFor(/^40 120$/m);
      await t.waitFor(/^42$/m);
      // Ctrl-C is the remote's: it interrupts the remote's sleep, not aconctl.
      await t.type("sleep 100");
      await t.keys("Enter");
      await t.keys("C-c");
      await t.waitFor(/^\^C\n\/ # $/m);
      await t.type("echo after-$((1+1))");
      await t.keys("Enter");
      await t.waitFor(/^after-2$/m);
      await t.bytes(...HOTKEY);
      assertEquals((await waitForFile(`${dir}/rc`)).trim(), "0");
      await t.waitFor(/\[detached from \d+\/\d+\]/);
      assertEquals(await waitForFile(`${dir}/after`), await Deno.readTextFile(`${dir}/before`));
      // Detached, not ended: the session's shell is still there.
      const sessions = (await info(w, id)).sessions;
      assertEquals(sessions.length, 1);
    } finally {
      await t.kill();
    }
  },
);

sessionTest(
  "aconctl attach to a container's own terminal: scrollback, input, the remote's exit status",
  async (w, dir) => {
    const id = (await w.c.start({ imageId: await image(w, { entrypoint: ["/bin/sh"] }) }))
      .containerId;
    await w.c.writeTerminal({
      terminal: { containerId: id, session: 0 },
      data: new TextEncoder().encode("echo before-$((2+3))\n"),
    });
    const t = await session(w, dir, `attach ${id}`);
    try {
      await t.waitFor(/\[attached to \d+\/0;/);
      // What the terminal wrote before anyone attached comes first.
      await t.waitFor(/^before-5$/m);
      await t.type("echo $((6*7))");
      await t.keys("Enter");
      await t.waitFor(/^42$/m);
      await t.type("exit 5");
      await t.keys("Enter");
      assertEquals((await waitForFile(`${dir}/rc`)).trim(), "5");
      await t.waitFor(/\[\d+\/0 exited: exit status 5\]/);
      assertEquals(await waitForFile(`${dir}/after`), await Deno.readTextFile(`${dir}/before`));
      await waitExited(w, id);
    } finally {
      await t.kill();
    }
  },
);

sessionTest(
  "aconctl attach: SIGTERM to aconctl restores the terminal (exit 143); a bad id is a clear error",
  async (w, dir) => {
    const id = (await w.c.start({ imageId: await image(w, { entrypoint: ["/bin/sh"] }) }))
      .containerId;
    const t = await session(w, dir, `attach ${id}`);
    try {
      await t.waitFor(/\[attached to/);
      await t.waitFor(/\/ # $/m);
      // The aconctl of the pane: its deno process, by its arguments.
      const ps = await new Deno.Command("pgrep", {
        args: ["-f", `aconctl.js --socket ${w.d.socket} attach`],
        stdout: "piped",
      }).output();
      const pid = Number(new TextDecoder().decode(ps.stdout).trim().split("\n")[0]);
      Deno.kill(pid, "SIGTERM");
      assertEquals((await waitForFile(`${dir}/rc`)).trim(), "143");
      assertEquals(await waitForFile(`${dir}/after`), await Deno.readTextFile(`${dir}/before`));
    } finally {
      await t.kill();
    }
    const bad = await session(w, dir, "attach 999");
    try {
      await bad.waitFor(/aconctl attach: .*999.*\[not_found\]/);
    } finally {
      await bad.kill();
    }
  },
);

Deno.test("aconctl exec -it and attach without interactive mode: refused, saying how to turn it on", async () => {
  const w = await world();
  const dir = await Deno.makeTempDir();
  try {
    const id = (await w.c.start({ imageId: await image(w) })).containerId;
    for (const args of [`exec -it ${id} Sh "exec sh"`, `attach ${id}`]) {
      const t = await session(w, dir, args);
      try {
        assertEquals((await waitForFile(`${dir}/rc`)).trim(), "1");
        const s = await t.screen();
        assertMatch(s, /acond\.interactive/);
        assertMatch(s, /--interactive/);
        assertMatch(s, /failed_precondition/);
        assertEquals(await waitForFile(`${dir}/after`), await Deno.readTextFile(`${dir}/before`));
      } finally {
        await t.kill();
        await Deno.remove(`${dir}/rc`).catch(() => {});
        await Deno.remove(`${dir}/after`).catch(() => {});
      }
    }
  } finally {
    await w.d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
