import { assertEquals, assertMatch, assertThrows } from "../../helpers/assert.ts";
import { namespaceInitWarning, parseSignal, signalName } from "../../../src/cli/signals.ts";
import {
  humanDuration,
  parseSince,
  psRow,
  psStatus,
  psTable,
  shortImageId,
  tailChunks,
} from "../../../src/cli/format.ts";
import {
  eventJson,
  eventLine,
  isPublicEntrypoint,
  splitExecArgs,
} from "../../../src/cli/runtime.ts";
import { type Clock, pacer, parseRate } from "../../../src/cli/images.ts";
import { Event_Kind } from "../../../src/gen/acon_pb.ts";
import { withNumbers } from "../../../src/cli/command.ts";

Deno.test("parseSignal() takes names with or without SIG, any case, numbers, RT signals, - for the group", () => {
  assertEquals(parseSignal("TERM"), 15);
  assertEquals(parseSignal("SIGKILL"), 9);
  assertEquals(parseSignal("usr1"), 10);
  assertEquals(parseSignal("sigHup"), 1);
  assertEquals(parseSignal("15"), 15);
  assertEquals(parseSignal("-TERM"), -15);
  assertEquals(parseSignal("-9"), -9);
  assertEquals(parseSignal("RTMIN"), 34);
  assertEquals(parseSignal("RTMIN+2"), 36);
  assertEquals(parseSignal("SIGRTMAX"), 64);
  assertEquals(parseSignal("RTMAX-1"), 63);
  for (const bad of ["", "TERMX", "0", "65", "1.5", "SIG", "--TERM"]) {
    assertThrows(() => parseSignal(bad), /unknown signal/, bad);
  }
});

Deno.test("signalName() names numbers back, the group with a note", () => {
  assertEquals(signalName(15), "SIGTERM");
  assertEquals(signalName(9), "SIGKILL");
  assertEquals(signalName(36), "SIGRTMIN+2");
  assertEquals(signalName(-15), "-SIGTERM (process group)");
  assertEquals(signalName(99), "signal 99");
});

Deno.test("namespaceInitWarning(): every catchable signal to the init, none for KILL, STOP or a group", () => {
  assertMatch(namespaceInitWarning(15)!, /PID namespace's init; the kernel drops SIGTERM unless/);
  assertMatch(namespaceInitWarning(1)!, /SIGHUP/);
  assertEquals(namespaceInitWarning(9), undefined);
  assertEquals(namespaceInitWarning(19), undefined);
  assertEquals(namespaceInitWarning(-15), undefined);
});

const ID = `sha384/${"a".repeat(96)}/${"0123456789abcdef".repeat(6)}`;
const base = {
  containerId: 3,
  imageId: ID,
  state: 83,
  running: true,
  wstatus: 0,
  exitSignal: false,
  pid: 4321,
  startedMs: 1_000_000,
  exitedMs: 0,
  command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www with space"],
  exePath: "httpd[/bin/busybox]",
};

Deno.test("psRow(): state as a word, numbers as numbers, nulls where they do not apply", () => {
  const r = psRow(base, 1_000_000 + 125_000);
  assertEquals(r, {
    id: 3,
    image: ID,
    imageShort: "0123456789ab",
    command: base.command,
    state: "sleeping",
    running: true,
    pid: 4321,
    startedAt: new Date(1_000_000).toISOString(),
    uptimeSeconds: 125,
    exitedAt: null,
    exitCode: null,
    exitSignal: null,
  });
  assertEquals(psStatus(r, 0), "Up 2 minutes");
  const exited = psRow(
    { ...base, running: false, state: 0, wstatus: 3, exitedMs: 2_000_000 },
    2_060_000,
  );
  assertEquals([exited.state, exited.exitCode, exited.exitSignal, exited.pid], [
    "exited",
    3,
    null,
    null,
  ]);
  assertEquals(psStatus(exited, 2_060_000), "Exited (3) 1 minute ago");
  const killed = psRow({
    ...base,
    running: false,
    state: 0,
    wstatus: 9,
    exitSignal: true,
    exitedMs: 2_000_000,
  }, 2_000_500);
  assertEquals(killed.exitSignal, "SIGKILL");
  assertEquals(psStatus(killed, 2_000_500), "Killed (SIGKILL) less than a second ago");
  assertEquals(psRow({ ...base, state: 82 }, 0).state, "running");
  assertEquals(psRow({ ...base, state: 68 }, 0).state, "disk-sleep");
  assertEquals(psRow({ ...base, command: undefined }, 0).command, ["httpd[/bin/busybox]"]);
});

Deno.test("psTable(): short ids and commands unless --no-trunc; quoted arguments", () => {
  const now = 1_000_000 + 5000;
  const t = psTable([psRow(base, now)], now, false).split("\n");
  assertMatch(t[0], /^CONTAINER ID +IMAGE +COMMAND +STATE +STATUS +PID$/);
  assertMatch(
    t[1],
    /^3 +0123456789ab +"\/bin\/httpd -f -p 8080 -h '\/ww…" +sleeping +Up 5 seconds +4321$/,
  );
  const full = psTable([psRow(base, now)], now, true).split("\n")[1];
  assertMatch(
    full,
    new RegExp(`^3 +${ID.replaceAll("/", "\\/")} +"/bin/httpd -f -p 8080 -h '/www with space'"`),
  );
});

Deno.test("shortImageId() and humanDuration()", () => {
  assertEquals(shortImageId(ID), "0123456789ab");
  assertEquals(shortImageId("odd"), "odd");
  assertEquals(humanDuration(0), "less than a second");
  assertEquals(humanDuration(1000), "1 second");
  assertEquals(humanDuration(3 * 3600_000), "3 hours");
  assertEquals(humanDuration(2 * 86400_000), "2 days");
});

Deno.test("parseSince(): durations, epoch seconds, dates; a clear error otherwise", () => {
  assertEquals(parseSince("30s", 100_000), 70_000);
  assertEquals(parseSince("1h30m", 10_000_000), 10_000_000 - 5_400_000);
  assertEquals(parseSince("1700000000", 0), 1_700_000_000_000);
  assertEquals(parseSince("2026-01-31T12:00:00Z", 0), Date.parse("2026-01-31T12:00:00Z"));
  assertThrows(() => parseSince("yesterday", 0), /give a duration \(30s, 5m, 1h30m\)/);
});

Deno.test("tailChunks(): the last N lines across chunks", () => {
  const e = new TextEncoder();
  const d = new TextDecoder();
  const chunks = ["a\nb", "\nc\n", "d\ne\n"].map((s, i) => ({ fd: 1, data: e.encode(s), i }));
  const text = (n: number) => tailChunks(chunks, n).map((c) => d.decode(c.data)).join("");
  assertEquals(text(1), "e\n");
  assertEquals(text(2), "d\ne\n");
  assertEquals(text(3), "c\nd\ne\n");
  assertEquals(text(4), "b\nc\nd\ne\n");
  assertEquals(text(10), "a\nb\nc\nd\ne\n");
  assertEquals(text(0), "");
});

Deno.test("splitExecArgs(): flags before CID, everything after NAME is the program's, -- accepted", () => {
  assertEquals(splitExecArgs(["1", "Echo", "-n", "--x"]), {
    head: [],
    id: "1",
    name: "Echo",
    args: ["-n", "--x"],
  });
  assertEquals(splitExecArgs(["--timeout", "5", "-e", "A=1", "2", "--", "Cat", "--"]), {
    head: ["--timeout", "5", "-e", "A=1"],
    id: "2",
    name: "Cat",
    args: ["--"],
  });
  assertEquals(splitExecArgs(["--", "3", "Echo"]).name, "Echo");
  assertEquals(isPublicEntrypoint("Echo"), true);
  assertEquals(isPublicEntrypoint("ls"), false);
  assertEquals(isPublicEntrypoint("A/b"), false);
  assertEquals(isPublicEntrypoint("Éclair"), true);
});

Deno.test("events: readable lines and JSON with words and numbers", () => {
  const e = {
    kind: Event_Kind.CONTAINER_EXITED,
    containerId: 4,
    imageId: ID,
    wstatus: 9,
    exitSignal: true,
    timeMs: 0,
    count: 0,
  };
  assertEquals(
    eventLine(e),
    "1970-01-01T00:00:00.000Z container 4 exited: killed by SIGKILL (image 0123456789ab)",
  );
  assertEquals(eventJson(e), {
    time: "1970-01-01T00:00:00.000Z",
    timeMs: 0,
    kind: "exited",
    containerId: 4,
    imageId: ID,
    exitCode: null,
    exitSignal: "SIGKILL",
  });
  assertEquals(eventJson({ ...e, kind: Event_Kind.CONTAINER_OOM, count: 2 }).count, 2);
  assertEquals(eventJson({ ...e, kind: Event_Kind.FINALIZED, containerId: 0, imageId: "" }), {
    time: "1970-01-01T00:00:00.000Z",
    timeMs: 0,
    kind: "finalized",
  });
});

Deno.test("parseRate(): bytes, k, m; a clear error otherwise", () => {
  assertEquals(parseRate("1000"), 1000);
  assertEquals(parseRate("512k"), 512 * 1024);
  assertEquals(parseRate("2M"), 2 * 1024 * 1024);
  assertEquals(parseRate(undefined), undefined);
  assertThrows(() => parseRate("fast"), /--limit-rate takes bytes a second/);
  assertThrows(() => parseRate("0"), /--limit-rate/);
});

/** A clock whose sleep() only moves its time on; `slept` is the total. */
function fakeClock(): Clock & { slept: number } {
  let t = 1_000_000;
  return {
    slept: 0,
    now: () => t,
    sleep(ms) {
      t += ms;
      this.slept += ms;
      return Promise.resolve();
    },
  };
}

/** Paces `chunks` pieces of 64 KiB through pacer(); how long the fake clock was made to wait. */
async function paced(
  chunks: number,
  offset: number,
  rate: number,
  progress?: (done: number) => void,
): Promise<{ slept: number; sent: number }> {
  const clock = fakeClock();
  const sent = { bytes: 0 };
  const pace = pacer(offset, { rate, sent }, progress, clock);
  for (let i = 0; i < chunks; i++) await pace(64 << 10); // before each piece goes out
  return { slept: clock.slept, sent: sent.bytes };
}

Deno.test("push --limit-rate paces the body with and without a progress line (-q, stderr not a terminal)", async () => {
  // 32 × 64 KiB = 2 MiB at 1 MiB/s: 2 s of waiting in all, whatever draws the progress.
  const rate = 1 << 20;
  for (const progress of [undefined, () => {}]) {
    const r = await paced(32, 0, rate, progress);
    assertEquals(r.sent, 2 << 20);
    assertEquals(r.slept, 2000, `progress line: ${progress !== undefined}`);
  }
  // A resumed PUT counts only what it sends itself.
  const seen: number[] = [];
  const r = await paced(16, 5 << 20, rate, (d) => seen.push(d));
  assertEquals(r.slept, 1000);
  assertEquals(seen.at(-1), (5 << 20) + (1 << 20));
});

Deno.test("withNumbers(): protobuf JSON's 64-bit strings back to numbers, nested and in arrays", () => {
  const msg = { a: 5n, b: "x", c: [{ d: 7n }], e: { f: 2n ** 60n }, g: 3 };
  const json = { a: "5", b: "x", c: [{ d: "7" }], e: { f: "1152921504606846976" }, g: 3 };
  assertEquals(withNumbers(json, msg), {
    a: 5,
    b: "x",
    c: [{ d: 7 }],
    e: { f: "1152921504606846976" },
    g: 3,
  });
});
