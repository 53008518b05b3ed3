/**
 * aconctl's runtime side end to end, only through dist/aconctl against the real dist/acond --dev:
 * keygen → generate from an OCI layout (umoci) of a busybox rootfs serving HTTP (busybox httpd) →
 * sign → push interrupted mid-layer (the aconctl process killed) and resumed → run → ps → exec →
 * logs -f → stop → report --verify. The containers of the dev daemon share the host's network, so
 * curl reaches httpd on the port it was given.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { buildRootfs } from "../helpers/busybox.ts";
import { ociLayout } from "../helpers/oci.ts";
import { dec } from "../helpers/containers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function aconctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(`${TOP}/dist/aconctl`, { args, env, stdin: "null" }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await aconctl(args, env);
  assertEquals(r.code, 0, `aconctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function curl(url: string): Promise<string> {
  const r = await new Deno.Command("curl", { args: ["-sS", "--max-time", "10", url] }).output();
  return dec(r.stdout);
}

/** A free TCP port on 127.0.0.1 (bound and released). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const LAYER_MB = 24;
/** How long the test waits for the slowed first push to show up in `aconctl uploads`. */
const POLL_LIMIT_MS = 120_000;

Deno.test("aconctl: keygen → generate (umoci) → sign → push interrupted and resumed → run → ps → exec → logs -f → stop → report --verify", async () => {
  const w = await Deno.makeTempDir({ prefix: "aconctl-runtime-" });
  const d = await startDaemon();
  const env = { ACONCTL_STATE_DIR: `${w}/state` };
  const S = ["--socket", d.socket];
  const port = freePort();
  let logsProc: Deno.ChildProcess | undefined;
  let pushProc: Deno.ChildProcess | undefined;
  let eventsProc: Deno.ChildProcess | undefined;
  try {
    await ok(["keygen", "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]);
    // Two layers: busybox with a page to serve, then a large incompressible file (the layer whose
    // upload is interrupted).
    await ociLayout(`${w}/oci`, "web", [
      (r) => buildRootfs(r, { "www/index.html": [0o644, "hello from acond\n"] }),
      async (r) => {
        const f = await Deno.open(`${r}/big.bin`, { write: true, create: true });
        const buf = new Uint8Array(1024 * 1024);
        for (let i = 0; i < LAYER_MB; i++) {
          for (let o = 0; o < buf.length; o += 65536) {
            crypto.getRandomValues(buf.subarray(o, o + 65536));
          }
          await f.write(buf);
        }
        f.close();
      },
    ], {
      entrypoint: ["/bin/httpd"],
      cmd: ["-f", "-v", "-p", `127.0.0.1:${port}`, "-h", "/www"],
      env: ["PATH=/bin"],
    });
    await ok([
      "generate",
      "--out",
      `${w}/img`,
      `oci:${w}/oci:web`,
      "--signal",
      "TERM",
      "--signal",
      "KILL",
      "--log-fd",
      "1",
      "--log-fd",
      "2",
    ]);
    const id = (await ok(["sign", `${w}/img`, "--key", `${w}/k.pem`, "--cert", `${w}/c.der`]))
      .trim();
    const m = JSON.parse(await Deno.readTextFile(`${w}/img/manifest.json`));
    const big = m.layers[1] as string;
    const bigSize = (await Deno.stat(`${w}/img/layers/${big}.tar`)).size;

    // The first push, slowed down, is killed once acond has received part of the big layer.
    pushProc = new Deno.Command(`${TOP}/dist/aconctl`, {
      args: [...S, "push", "-q", "--limit-rate", "2m", `${w}/img`],
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // The wait is bounded: by the push itself (it must not end before it is caught part-way: at
    // 2 MB/s the big layer takes about 12 s) and by POLL_LIMIT_MS in case the push hangs.
    let ended: Deno.CommandStatus | undefined;
    pushProc.status.then((s) => ended = s);
    let before = 0;
    for (const limit = Date.now() + POLL_LIMIT_MS;;) {
      const list = JSON.parse(await ok([...S, "--json", "uploads"], env));
      const u = list.find((x: { digest: string }) => x.digest === big);
      if (u && u.received > 0) {
        before = u.received;
        break;
      }
      if (ended) {
        throw new Error(
          `the first push ended (exit ${ended.code}) before acond reported part of the big layer ` +
            `(uploads: ${JSON.stringify(list)}): nothing to interrupt; is --limit-rate in effect?`,
        );
      }
      if (Date.now() > limit) {
        throw new Error(`acond reported none of the big layer within ${POLL_LIMIT_MS} ms of push`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    pushProc.kill("SIGKILL");
    await pushProc.status;
    pushProc = undefined;
    assert(before > 0 && before < bigSize, `received ${before} of ${bigSize} before the kill`);
    // acond kept what it received; aconctl uploads says where it stands.
    const standing = JSON.parse(await ok([...S, "--json", "uploads"], env));
    const st = standing.find((x: { digest: string }) => x.digest === big);
    assert(st.received >= before && st.received < bigSize, JSON.stringify(st));

    // The second push resumes: it sends only the rest.
    const second = JSON.parse(await ok([...S, "--json", "push", "-q", `${w}/img`], env));
    assertEquals(second.imageId, id);
    assertEquals(second.unresolved, []);
    const up = second.uploads.find((x: { digest: string }) => x.digest === big);
    assert(up.resumedFrom >= st.received, JSON.stringify(up));
    // Only the rest (more only if a part had to be sent again after a retry), less than the layer.
    assert(up.sent >= bigSize - up.resumedFrom && up.sent < bigSize, JSON.stringify(up));
    assertEquals(JSON.parse(await ok([...S, "--json", "uploads"], env)), []);

    // images lists it.
    const imgs = JSON.parse(await ok([...S, "--json", "images"]));
    assertEquals(imgs.map((i: { id: string }) => i.id), [id]);
    assertEquals(imgs[0].layers, m.layers);
    assertMatch(
      await ok([...S, "images"]),
      new RegExp(`^IMAGE ID .*\\n${id.split("/")[2].slice(0, 12)} `),
    );

    // events --json follows what happens from here on (the restart and stop below come seconds
    // later; only "started" could come before its stream is open, so it is not required).
    eventsProc = new Deno.Command(`${TOP}/dist/aconctl`, {
      args: [...S, "--json", "events"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const events = eventsProc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let evBuf = "";
    const nextEvent = async (): Promise<Record<string, unknown>> => {
      while (!evBuf.includes("\n")) {
        const { value, done } = await events.read();
        if (done) throw new Error(`events ended: ${evBuf}`);
        evBuf += value;
      }
      const line = evBuf.slice(0, evBuf.indexOf("\n"));
      evBuf = evBuf.slice(line.length + 1);
      return JSON.parse(line);
    };
    // run: nothing left to push; starts and prints the id.
    const run = JSON.parse(await ok([...S, "--json", "run", "-q", `${w}/img`], env));
    assertEquals(run.imageId, id);
    assertEquals(run.uploads, []);
    const cid = run.containerId as number;
    assertEquals(typeof cid, "number");

    // ps: a word for the state, the manifest's command, uptime as a number.
    const ps = JSON.parse(await ok([...S, "--json", "ps"]));
    assertEquals(ps.length, 1);
    assertEquals(ps[0].id, cid);
    assertEquals(ps[0].image, id);
    assertEquals(ps[0].imageShort, id.split("/")[2].slice(0, 12));
    assertEquals(ps[0].command, m.entrypoint);
    assert(["running", "sleeping"].includes(ps[0].state), ps[0].state);
    assertEquals(typeof ps[0].uptimeSeconds, "number");
    assertEquals(ps[0].exitCode, null);
    // inspect --json: numbers as numbers, the state as a word too.
    const insp = JSON.parse(await ok([...S, "--json", "inspect", String(cid)]));
    assertEquals(typeof insp.info[0].startedMs, "number");
    assert(["running", "sleeping"].includes(insp.info[0].stateName), insp.info[0].stateName);
    const table = await ok([...S, "ps"]);
    assertMatch(table, /^CONTAINER ID +IMAGE +COMMAND +STATE +STATUS +PID\n/);
    assertMatch(
      table,
      new RegExp(`\\n${cid} +${ps[0].imageShort} +"/bin/httpd -f -v.*" +\\S+ +Up `),
    );

    // exec: no -- needed; a name that is not an entry point is explained.
    assertEquals(
      await ok([...S, "exec", String(cid), "Echo", "hi", "--there", "-x"]),
      "hi --there -x\n",
    );
    assertEquals(await ok([...S, "exec", String(cid), "--", "Echo", "x"]), "x\n");
    const bad = await aconctl([...S, "exec", String(cid), "ls", "/"]);
    assertEquals(bad.code, 2);
    assertMatch(
      bad.stderr,
      /"ls" is not an entry point name\. Exec runs only a public entry point: an executable \/lib\/acon\/entrypoint\.d\/NAME/,
    );

    // logs -f: the request httpd logs (-v) appears while following.
    logsProc = new Deno.Command(`${TOP}/dist/aconctl`, {
      args: [...S, "logs", "-f", String(cid)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    assertEquals(await curl(`http://127.0.0.1:${port}/index.html`), "hello from acond\n");
    let seen = "";
    const dc = new TextDecoder();
    const reader = logsProc.stderr.getReader();
    while (!/response:200/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += dc.decode(value, { stream: true });
    }
    assertMatch(seen, /response:200/);
    reader.releaseLock();
    logsProc.kill("SIGTERM");
    await logsProc.status;
    await logsProc.stdout.cancel().catch(() => {});
    await logsProc.stderr.cancel().catch(() => {});
    logsProc = undefined;
    assertMatch(
      (await aconctl([...S, "logs", "--tail", "1", String(cid)])).stderr,
      /response:200/,
    );

    // kill: names; a catchable signal to the namespace init warns; an unlisted one is explained.
    const term = await aconctl([...S, "kill", String(cid), "SIGTERM"]);
    assertEquals(term.code, 0, term.stderr);
    assertMatch(
      term.stderr,
      /the entry point is its PID namespace's init; the kernel drops SIGTERM/,
    );
    const usr1 = await aconctl([...S, "kill", String(cid), "usr1"]);
    assertEquals(usr1.code, 1);
    assertMatch(usr1.stderr, /SIGUSR1 is not in the manifest's signals \(\[15, 9\]\)/);
    const badSig = await aconctl([...S, "kill", String(cid), "TERMINATE"]);
    assertEquals(badSig.code, 2);
    assertMatch(badSig.stderr, /unknown signal "TERMINATE"/);

    // restart: httpd ignores SIGTERM (no handler, namespace init): SIGKILL after 1 s, then
    // started again.
    const rs = JSON.parse(await ok([...S, "--json", "restart", "--time", "1", String(cid)]));
    assertEquals(rs, { id: cid, restarted: true, sent: ["SIGKILL"], escalated: true });
    assertEquals(JSON.parse(await ok([...S, "--json", "ps"]))[0].running, true);

    // stop: TERM, then (httpd as its namespace's init may have no handler) KILL after 1 s.
    const stop = JSON.parse(await ok([...S, "--json", "stop", "--time", "1", String(cid)]));
    assertEquals(stop.exited, true, stop.message);
    assertEquals(stop.sent[0], "SIGTERM");
    const psa = JSON.parse(await ok([...S, "--json", "ps", "-a"]));
    assertEquals(psa[0].state, "exited");
    assertEquals(JSON.parse(await ok([...S, "--json", "ps"])), []);
    // The events, in order: (started,) then two exits (killed by SIGKILL) around a restart.
    const seenEvents: Record<string, unknown>[] = [];
    const kinds = () => seenEvents.map((e) => [e.kind, e.containerId, e.exitSignal ?? null]);
    while (!(seenEvents.length >= 3 && seenEvents.at(-2)?.kind === "restarted")) {
      seenEvents.push(await nextEvent());
    }
    const last3 = [
      ["exited", cid, "SIGKILL"],
      ["restarted", cid, null],
      ["exited", cid, "SIGKILL"],
    ];
    assertEquals(kinds().slice(-3), last3);
    if (seenEvents.length === 4) assertEquals(kinds()[0], ["started", cid, null]);
    else assertEquals(seenEvents.length, 3);
    assertEquals(typeof seenEvents[0].timeMs, "number");
    eventsProc.kill("SIGTERM");
    await eventsProc.status;
    await events.cancel().catch(() => {});
    eventsProc = undefined;

    // The report of this VM (sim TEE) verifies, with the image measured.
    const rep = await aconctl([...S, "report", "--verify", "--allow-sim", "--expect-image", id]);
    assertEquals(rep.code, 0, rep.stderr + rep.stdout);
  } finally {
    if (pushProc) {
      try {
        pushProc.kill("SIGKILL");
      } catch { /* it had ended */ }
      await pushProc.status;
    }
    if (eventsProc) {
      eventsProc.kill("SIGKILL");
      await eventsProc.status;
    }
    if (logsProc) {
      logsProc.kill("SIGKILL");
      await logsProc.status;
    }
    await d.stop();
    await Deno.remove(w, { recursive: true }).catch(() => {});
  }
});
