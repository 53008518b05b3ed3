import { assertEquals, assertMatch } from "../../helpers/assert.ts";
import { BOOT_DEFAULTS, parseCmdline, parseStaticIp, tokenize } from "../../../src/init/cmdline.ts";

Deno.test("empty cmdline gives ACON's defaults (tcp 1025, vsock 1024, timeout 180)", () => {
  const r = parseCmdline("");
  assertEquals(r.problems, []);
  assertEquals(r.config, { ...BOOT_DEFAULTS });
  assertEquals([r.config.tcpPort, r.config.vsockPort, r.config.timeout], [1025, 1024, 180]);
});

Deno.test("a typical QEMU cmdline", () => {
  const r = parseCmdline(
    "console=ttyS0 panic=-1 quiet acond.tcp_port=2000 acond.timeout=0 acond.tee=sim " +
      "acond.ip=eth0:10.0.2.15/24:10.0.2.2 acond.log=debug acond.vsock_port=5000 " +
      "acond.min_hash=sha256 acond.interactive acond.debug_shell acond.on_fatal=reboot " +
      "acond.memory_max=256 acond.pids_max=100 acond.reserve_memory=64 acond.reserve_pids=0 " +
      "acond.max_connections=32 acond.header_timeout=3 acond.body_timeout=7\n",
  );
  assertEquals(r.problems, []);
  assertEquals(r.config, {
    tcpPort: 2000,
    tls: true,
    vsockPort: 5000,
    timeout: 0,
    tee: "sim",
    interactive: true,
    debugShell: true,
    logLevel: "debug",
    ip: { iface: "eth0", address: "10.0.2.15", prefix: 24, gateway: "10.0.2.2" },
    minHash: "sha256",
    onFatal: "reboot",
    limits: { memoryMax: 256 << 20, pidsMax: 100, reserveMemory: 64 << 20, reservePids: 0 },
    simMrConfigId: null,
    conn: { maxConnections: 32, headerTimeoutMs: 3000, bodyIdleTimeoutMs: 7000 },
    testFaults: [],
  });
  assertEquals(
    parseCmdline("acond.sim_mrconfigid=00ff10").config.simMrConfigId,
    new Uint8Array([0, 255, 16]),
  );
  assertEquals(parseCmdline("acond.sim_mrconfigid=0g").problems.length, 1);
  assertEquals(parseCmdline("acond.test_fault=throw,reject,fds").config.testFaults, [
    "throw",
    "reject",
    "fds",
  ]);
});

Deno.test("connection keys: 0, junk and out-of-range values are reported and leave the default", () => {
  for (
    const arg of [
      "acond.max_connections=0",
      "acond.max_connections=65537",
      "acond.header_timeout=x",
      "acond.body_timeout=3601",
      "acond.header_timeout",
    ]
  ) {
    const r = parseCmdline(arg);
    assertEquals(r.config.conn, {}, arg);
    assertEquals(r.problems.length, 1, arg);
    assertMatch(r.problems[0], /invalid kernel cmdline parameter acond\.\w+.*expected/);
  }
});

Deno.test("ACON's invalid vectors are reported and fall back to the default (no panic)", () => {
  for (
    const [arg, key] of [
      ["acond.vsock_port=8888=1", "acond.vsock_port"],
      ["acond.timeout=100=", "acond.timeout"],
      ["acond.vsock_port=xxx", "acond.vsock_port"],
      ["acond.tcp_port", "acond.tcp_port"],
      ["acond.tcp_port=0", "acond.tcp_port"],
      ["acond.tcp_port=65536", "acond.tcp_port"],
      ["acond.timeout=-1", "acond.timeout"],
      ["acond.memory_max=-1", "acond.memory_max"],
      ["acond.pids_max=1e3", "acond.pids_max"],
      ["acond.reserve_memory=1048577", "acond.reserve_memory"],
      ["acond.reserve_pids", "acond.reserve_pids"],
      ["acond.timeout=4294967296", "acond.timeout"],
      ["acond.tee=sgx", "acond.tee"],
      ["acond.log=verbose", "acond.log"],
      ["acond.min_hash=md5", "acond.min_hash"],
      ["acond.interactive=maybe", "acond.interactive"],
      ["acond.debug_shell=root", "acond.debug_shell"],
      ["acond.on_fatal=panic", "acond.on_fatal"],
      ["acond.ip=eth0", "acond.ip"],
      ["acond.test_fault=explode", "acond.test_fault"],
    ]
  ) {
    const r = parseCmdline(`console=ttyS0 ${arg}`);
    assertEquals(r.config, { ...BOOT_DEFAULTS }, arg);
    assertEquals(r.problems.length, 1, arg);
    assertMatch(r.problems[0], new RegExp(`^invalid kernel cmdline parameter ${key}.*default`));
  }
});

Deno.test("the last valid value wins; a later invalid one keeps the earlier value", () => {
  assertEquals(parseCmdline("acond.tcp_port=1 acond.tcp_port=2").config.tcpPort, 2);
  const r = parseCmdline("acond.tcp_port=7 acond.tcp_port=x");
  assertEquals(r.config.tcpPort, 7);
  assertEquals(r.problems.length, 1);
});

Deno.test("unknown and legacy acond.* keys are reported, other keys ignored silently", () => {
  const r = parseCmdline("root=/dev/vda acond.bogus=1 acond.vsock_conn acond.openid_user=a@b");
  assertEquals(r.config, { ...BOOT_DEFAULTS });
  assertEquals(r.problems.length, 3);
  assertMatch(r.problems[0], /unknown .*acond\.bogus/);
  assertMatch(r.problems[1], /acond\.vsock_conn ignored/);
});

Deno.test("tokenize: quotes protect blanks; '--' ends the kernel's part", () => {
  assertEquals(tokenize(' a  b="x y" c"d e"f -- acond.tcp_port=9 '), ["a", "b=x y", "cd ef"]);
  assertEquals(parseCmdline("-- acond.tcp_port=9").config.tcpPort, 1025);
  assertEquals(tokenize('x=""'), ["x="]);
});

Deno.test("parseStaticIp accepts IFACE:ADDR/PREFIX[:GW] and rejects the rest", () => {
  assertEquals(parseStaticIp("eth0:10.0.2.15/24"), {
    iface: "eth0",
    address: "10.0.2.15",
    prefix: 24,
    gateway: null,
  });
  for (
    const bad of [
      "eth0:10.0.2.15",
      "eth0:10.0.2.256/24",
      "eth0:10.0.2.15/33",
      "eth0:10.0.02.15/24",
      "eth0:10.0.2.15/24:gw",
      "a/b:10.0.2.15/24",
      "averyveryverylongname:10.0.2.15/24",
      ":10.0.2.15/24",
      "eth0:10.0.2.15/24:10.0.2.2:x",
    ]
  ) assertEquals(parseStaticIp(bad), null, bad);
});

Deno.test("acond.tls: on by default; off (or 0, false, no) serves plain HTTP; junk keeps it on", () => {
  assertEquals(parseCmdline("").config.tls, true);
  for (const v of ["off", "0", "false", "no"]) {
    const r = parseCmdline(`acond.tls=${v}`);
    assertEquals([r.config.tls, r.problems], [false, []], v);
  }
  assertEquals(parseCmdline("acond.tls=on").config.tls, true);
  const bad = parseCmdline("acond.tls=maybe");
  assertEquals(bad.config.tls, true);
  assertMatch(bad.problems[0], /acond\.tls="maybe": expected on\|off; using the default "on"/);
});
