/**
 * aconctl's command-line surface through dist/aconctl: --help on every command (exit 0),
 * --version, connection errors that say what happened (exit 3), ACON_ADDR's forms against a daemon
 * on TCP, bash completion sourced in a real bash.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { dec } from "../helpers/containers.ts";

async function aconctl(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(`${TOP}/dist/aconctl`, { args, env, stdin: "null" }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

/** The command names, from the top-level help's "Commands:" list. */
async function commandNames(): Promise<string[]> {
  const h = (await aconctl(["--help"])).stdout;
  const list = h.slice(h.indexOf("Commands:"));
  return [...new Set([...list.matchAll(/^ {2}([a-z][a-z-]*)(?: |$)/gm)].map((m) => m[1]))];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("aconctl: every command's --help exits 0 with its usage; --version", async () => {
  const names = await commandNames();
  for (const n of ["run", "ps", "images", "stop", "restart", "kill", "logs", "events", "exec"]) {
    assert(names.includes(n), `${n} in ${names}`);
  }
  for (const n of names) {
    for (const flag of n === "ps" || n === "generate" ? ["--help", "-h"] : ["--help"]) {
      const r = await aconctl([n, flag]);
      assertEquals(r.code, 0, `${n} ${flag}: ${r.stderr}`);
      assertMatch(r.stdout, new RegExp(`^usage: aconctl ${n}\\b`), n);
    }
  }
  // The image-side commands' long help (their flags) is printed, not just the usage line.
  assertMatch((await aconctl(["generate", "--help"])).stdout, /--log-fd N/);
  // help COMMAND.
  assertMatch((await aconctl(["help", "ps"])).stdout, /^usage: aconctl ps /);
  const v = await aconctl(["--version"]);
  assertEquals(v.code, 0);
  assertMatch(v.stdout, /^aconctl \d+\.\d+\.\d+\n$/);
  assertEquals(
    JSON.parse((await aconctl(["--json", "--version"])).stdout).aconctl.length > 0,
    true,
  );
});

Deno.test("aconctl: connection errors say what happened (exit 3); ACON_ADDR's unix:, tcp:, http(s):// forms", async () => {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
  // Something that is not acond: an HTTP server answering 404.
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("nope", { status: 404 }),
  );
  const otherPort = other.addr.port;
  try {
    for (
      const addr of [
        `unix:${d.socket}`,
        d.socket,
        `tcp:127.0.0.1:${port}`,
        `http://127.0.0.1:${port}`,
        `https://127.0.0.1:${port}`,
        `127.0.0.1:${port}`,
      ]
    ) {
      // TCP is attested TLS; the dev daemon's evidence is simulated (--allow-sim).
      const r = await aconctl(["--allow-sim", "--json", "ps"], { ACON_ADDR: addr });
      assertEquals(r.code, 0, `${addr}: ${r.stderr}`);
      assertEquals(JSON.parse(r.stdout), []);
    }
    // --json: 64-bit counters as numbers, not strings.
    const h = JSON.parse((await aconctl(["--json", "health"], { ACON_ADDR: d.socket })).stdout);
    assertEquals(typeof h.uptimeMs, "number");
    const noSock = await aconctl(["ps"], { ACON_ADDR: `unix:${d.dir}/none.sock` });
    assertEquals(noSock.code, 3);
    assertEquals(
      noSock.stderr,
      `aconctl ps: no socket at ${d.dir}/none.sock (is acond running?)\n`,
    );
    const refused = await aconctl(["ps"], { ACON_ADDR: `tcp:127.0.0.1:${freePort()}` });
    assertEquals(refused.code, 3);
    assertMatch(refused.stderr, /^aconctl ps: connection refused at 127\.0\.0\.1:\d+\n$/);
    // A plain HTTP server is refused before anything is sent (exit 4)...
    const plain = await aconctl(["ps"], { ACON_ADDR: `http://127.0.0.1:${otherPort}` });
    assertEquals(plain.code, 4, plain.stderr);
    assertMatch(plain.stderr, /does not speak TLS .*--insecure\n$/);
    // ...and with --insecure it is reached, and found not to be acond.
    const notAcond = await aconctl(["--insecure", "ps"], {
      ACON_ADDR: `http://127.0.0.1:${otherPort}`,
    });
    assertEquals(notAcond.code, 3, notAcond.stderr);
    assertMatch(
      notAcond.stderr,
      new RegExp(`\naconctl ps: not acond: HTTP 404 at http://127\\.0\\.0\\.1:${otherPort}\n$`),
    );
    const badAddr = await aconctl(["ps"], { ACON_ADDR: "somewhere" });
    assertEquals(badAddr.code, 2);
    assertMatch(badAddr.stderr, /ACON_ADDR "somewhere" is not an address/);
  } finally {
    await other.shutdown();
    await d.stop();
  }
});

Deno.test("aconctl completion bash: sourced in bash, it completes commands, flags and signal names", async () => {
  const script = await aconctl(["completion", "bash"]);
  assertEquals(script.code, 0);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.bash`, script.stdout);
    const probe = `
source ${dir}/c.bash
complete -p aconctl
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _aconctl; echo "[$*] \${COMPREPLY[*]}"; }
comp aconctl ps
comp aconctl --socket /x st
comp aconctl stop --t
comp aconctl ps --no
comp aconctl kill 3 SIGK
comp aconctl completion b
`;
    const out = await new Deno.Command("bash", { args: ["--norc", "-c", probe] }).output();
    const text = dec(out.stdout);
    assertEquals(out.code, 0, dec(out.stderr));
    const lines = text.trimEnd().split("\n");
    assertEquals(lines[0], "complete -o filenames -F _aconctl aconctl");
    assertEquals(lines[1], "[aconctl ps] ps");
    assertEquals(lines[2].split(" ").slice(4).sort(), ["start", "stop"]);
    assertEquals(lines[3], "[aconctl stop --t] --time");
    assertEquals(lines[4], "[aconctl ps --no] --no-trunc");
    assertEquals(lines[5], "[aconctl kill 3 SIGK] SIGKILL");
    assertEquals(lines[6], "[aconctl completion b] bash");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
