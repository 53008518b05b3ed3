/**
 * One container cannot break another's attestation (issue 10 items 6, 7), through the real
 * container socket from inside real busybox containers: a container's data over its bound is
 * refused to it while another's report works; a container that keeps 80 connections open (and
 * reopens each the moment it is closed) does not stop another's requests; a noRestart container's
 * data is dropped when it exits, a restartable one's is kept (docs/attestation.md "Limits").
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";

/*
 * aconx set-big N   set_attestation_data of N bytes of 'x'
 *       get DATA    get_report with DATA; prints cmd and the JSON
 *       hold N      keeps N connections open, reopening closed ones; writes /tmp/held once the
 *                   server has closed one (all N were then accepted), then runs forever
 */
const ACONX = String.raw`
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static int dial(void) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, "/shared/acon.sock");
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) { close(s); return -1; }
  return s;
}
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint8_t buf[1 << 20];
static void answer(int s, size_t n) {
  if (write(s, buf, n) != (ssize_t)n) { printf("write failed\n"); exit(3); }
  size_t got = 0; ssize_t r;
  while ((r = read(s, buf + got, sizeof buf - got)) > 0) got += r;
  int32_t cmd = 0; memcpy(&cmd, buf, 4);
  printf("cmd=%d got=%zu\n", got ? cmd : 99, got);
  if (got && cmd == -1) printf("error=%.*s\n", (int)(got - 12), buf + 12);
  if (got && cmd == 1) {
    int32_t json, data; memcpy(&json, buf + 12, 4); memcpy(&data, buf + 16, 4);
    printf("json=%.*s\n", data - json, buf + json);
  }
}
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (!strcmp(argv[1], "hold")) {
    int n = atoi(argv[2]);
    struct pollfd p[256];
    for (int i = 0; i < n; i++) { p[i].fd = dial(); p[i].events = POLLIN; }
    int told = 0;
    for (;;) {
      poll(p, n, 100);
      for (int i = 0; i < n; i++) {
        if (p[i].fd >= 0 && !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char c;
        if (p[i].fd >= 0 && read(p[i].fd, &c, 1) > 0) continue;
        if (p[i].fd >= 0) close(p[i].fd);
        if (!told) { FILE *f = fopen("/tmp/held", "w"); if (f) fclose(f); told = 1; }
        p[i].fd = dial();
      }
    }
  }
  int s = dial();
  if (s < 0) { printf("connect failed\n"); return 2; }
  if (!strcmp(argv[1], "set-big")) {
    size_t len = (size_t)atol(argv[2]);
    if (len > sizeof buf - 12) return 2;
    put32(buf, 2); put32(buf + 4, 12 + len); put32(buf + 8, 2);
    memset(buf + 12, 'x', len);
    answer(s, 12 + len);
  } else {
    size_t len = strlen(argv[2]);
    memset(buf, 0, 40);
    put32(buf, 0); put32(buf + 4, 40 + len); put32(buf + 8, 0); put32(buf + 32, 2);
    memcpy(buf + 40, argv[2], len);
    answer(s, 40 + len);
  }
  return 0;
}
`;

async function run(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!r.success) throw new Error(`${cmd}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test("containers' attestation: bounded data, own connection share, noRestart data dropped", async () => {
  const d = await startDaemon();
  const src = await Deno.makeTempDir({ prefix: "aconx-rootfs-" });
  try {
    await buildRootfs(src);
    await Deno.writeTextFile(`${src}/aconx.c`, ACONX);
    await run("gcc", ["-static", "-O2", "-Wall", "-o", `${src}/bin/aconx`, `${src}/aconx.c`]);
    await Deno.remove(`${src}/aconx.c`);
    const tar = await tarOf(src);
    const layer = `sha384/${await sha384hex(tar)}`;
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const manifest = (noRestart: boolean) =>
      baseManifest({
        layers: [layer],
        entrypoint: ["/bin/sleep", "1000"],
        env: ["PATH=/bin"],
        signals: [9],
        maxInstances: 0,
        noRestart,
      });
    const plain = (await c.addManifest(await signedManifest(signer, manifest(false)))).imageId;
    await c.addBlob({ alg: 2, data: tar });
    const once = (await c.addManifest(await signedManifest(signer, manifest(true)))).imageId;
    const start = async (imageId: string) => (await c.start({ imageId, envs: [] })).containerId;
    const sh = async (id: number, script: string) =>
      new TextDecoder().decode(
        (await c.exec({
          containerId: id,
          command: "Sh",
          arguments: [script],
          envs: ["PATH=/bin"],
          timeout: 20n,
        })).stdout,
      );
    const a = await start(plain), b = await start(plain);
    const report = async () =>
      JSON.parse((await c.report({ requestType: 0 })).attestationData).attestation_data;

    // a: 900 000 bytes of data fit one message but not every report: refused to a alone.
    const big = await sh(a, "aconx set-big 900000");
    assertMatch(big, /^cmd=-1 /m);
    assertMatch(
      big,
      /^error=Attestation data too large: 900002 bytes in the report JSON, at most 65536$/m,
    );
    assertMatch(await sh(b, "aconx get from-b"), /^cmd=1 /m);
    assertMatch(await sh(a, "aconx set-big 1000"), /^cmd=3 /m);
    assertEquals((await report())[plain][String(a)].data, "x".repeat(1000));

    // a holds 80 connections (more than every caller's old shared 64) and reopens each one the
    // server closes; b's requests are still served.
    await sh(a, "aconx hold 80 >/dev/null 2>&1 &");
    for (let i = 0; !(await sh(a, "[ -e /tmp/held ] && echo held")).includes("held"); i++) {
      assert(i < 400, "the holder never saw its connections accepted");
      await new Promise((r) => setTimeout(r, 25));
    }
    for (let i = 0; i < 5; i++) assertMatch(await sh(b, `aconx get b${i}`), /^cmd=1 /m);
    assertEquals((await c.health({})).containers >= 2, true);
    await sh(a, "kill $(pidof aconx)");

    // A noRestart container's data goes when it exits; a restartable container's stays.
    const gone = await start(once);
    assertMatch(await sh(gone, "aconx set-big 10"), /^cmd=3 /m);
    assertMatch(await sh(b, "aconx set-big 20"), /^cmd=3 /m);
    assertEquals((await report())[once][String(gone)].data, "x".repeat(10));
    await c.kill({ containerId: gone, signalNum: 9 });
    await c.kill({ containerId: b, signalNum: 9 });
    for (let i = 0;; i++) {
      const infos = (await c.inspect({ containerId: 0 })).info;
      if (
        infos.filter((x) => x.containerId === gone || x.containerId === b).every((x) => !x.running)
      ) break;
      assert(i < 400, "containers did not exit");
      await new Promise((r) => setTimeout(r, 25));
    }
    const after = await report();
    assertEquals(after[once][String(gone)], {});
    assertEquals(after[plain][String(b)], { type: 2, data: "x".repeat(20) });
  } finally {
    await d.stop();
    await Deno.remove(src, { recursive: true }).catch(() => {});
  }
});
