/**
 * The boot floors' network set-up (scripts/bench.d/floor.ts, floor_connect.ts): the least a Deno
 * PID 1 must do to be reachable from the host. /proc is mounted by /init; loads the NIC's modules
 * (the image's order file holds only those), sets the address, brings lo and eth0 up; plain libc
 * calls, no shim.
 */
export function upNetwork(): void {
  const libc = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    syscall: { parameters: ["i64", "i64", "buffer", "i64"], result: "i64" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  });
  const L = libc.symbols;
  const enc = new TextEncoder();
  const cstr = (s: string) => enc.encode(s + "\0");
  for (
    const line of Deno.readTextFileSync("/lib/modules/acond/order").split("\n").filter(Boolean)
  ) {
    const m = line.split(" ")[0]; // `file phase`: the floor loads its few all at once
    const fd = L.open(cstr(`/lib/modules/acond/${m}`), 0o2000000);
    L.syscall(313n, BigInt(fd), cstr(""), 4n); // finit_module, compressed
    L.close(fd);
  }
  const s = L.socket(2, 2, 0);
  const ifreq = (name: string) => {
    const b = new Uint8Array(40);
    b.set(enc.encode(name));
    return b;
  };
  const sin = (b: Uint8Array, ip: string) => {
    new DataView(b.buffer).setUint16(16, 2, true);
    ip.split(".").forEach((o, i) => b[20 + i] = Number(o));
  };
  const up = (name: string) => {
    const r = ifreq(name);
    L.ioctl(s, 0x8913n, r);
    new DataView(r.buffer).setUint16(16, new DataView(r.buffer).getUint16(16, true) | 1, true);
    L.ioctl(s, 0x8914n, r);
  };
  up("lo");
  let r = ifreq("eth0");
  sin(r, "10.0.2.15");
  L.ioctl(s, 0x8916n, r);
  r = ifreq("eth0");
  sin(r, "255.255.255.0");
  L.ioctl(s, 0x891cn, r);
  up("eth0");
}
