/**
 * Containers attest through /shared/acon.sock (ACON's binary protocol, behaviour file §6.4):
 * each container's socket is its own (bound over /shared/acon.sock in its mount namespace), so a
 * caller is identified by construction, whatever uid it runs as. A static C client built at test
 * time speaks the protocol from inside a real busybox container started through the API.
 */
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";

const ACONC = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
/* aconc set TYPE DATA | get DATA | short X: one request on /shared/acon.sock, reply summarised. */
static int dial(void) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, "/shared/acon.sock");
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); exit(2); }
  return s;
}
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint8_t buf[1 << 20];
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int s = dial();
  size_t n;
  if (!strcmp(argv[1], "short")) { /* a set_attestation_data header claiming 10 bytes (< 12) */
    put32(buf, 2); put32(buf + 4, 10); buf[8] = buf[9] = 0; n = 10;
  } else if (!strcmp(argv[1], "set")) {
    size_t len = strlen(argv[3]);
    put32(buf, 2); put32(buf + 4, 12 + len); put32(buf + 8, atoi(argv[2]));
    memcpy(buf + 12, argv[3], len); n = 12 + len;
  } else {
    size_t len = strlen(argv[2]);
    memset(buf, 0, 40);
    put32(buf, 0); put32(buf + 4, 40 + len); put32(buf + 8, 0);
    uint64_t nonce[2] = {7, 9}; memcpy(buf + 16, nonce, 16); put32(buf + 32, 2);
    memcpy(buf + 40, argv[2], len); n = 40 + len;
  }
  if (write(s, buf, n) != (ssize_t)n) return 3;
  size_t got = 0; ssize_t r;
  while ((r = read(s, buf + got, sizeof buf - got)) > 0) got += r;
  int32_t cmd; uint32_t size; memcpy(&cmd, buf, 4); memcpy(&size, buf + 4, 4);
  printf("cmd=%d size=%u got=%zu\n", cmd, size, got);
  if (cmd == -1) printf("error=%.*s\n", (int)(got - 12), buf + 12);
  if (cmd == 1) {
    int32_t json, data; memcpy(&json, buf + 12, 4); memcpy(&data, buf + 16, 4);
    printf("json=%.*s\n", data - json, buf + json);
  }
  return 0;
}
`;

async function run(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!r.success) throw new Error(`${cmd}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test("a container sets attestation data through its socket; Reports carry it", async () => {
  const d = await startDaemon();
  const src = await Deno.makeTempDir({ prefix: "aconc-rootfs-" });
  try {
    await buildRootfs(src);
    await Deno.writeTextFile(`${src}/aconc.c`, ACONC);
    await run("gcc", ["-static", "-O2", "-o", `${src}/bin/aconc`, `${src}/aconc.c`]);
    await Deno.remove(`${src}/aconc.c`);
    const tar = await tarOf(src);
    const layer = `sha384/${await sha384hex(tar)}`;
    const c = d.client();
    const signer = await makeSigner("ec-p384");
    const m = baseManifest({
      layers: [layer],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      uids: [1000],
      signals: [9],
      maxInstances: 0,
    });
    const added = await c.addManifest(await signedManifest(signer, m));
    await c.addBlob({ alg: 2, data: tar });
    const a = (await c.start({ imageId: added.imageId, envs: [] })).containerId;
    const b = (await c.start({ imageId: added.imageId, envs: [] })).containerId;
    const sh = async (id: number, script: string) =>
      new TextDecoder().decode(
        (await c.exec({
          containerId: id,
          command: "Sh",
          arguments: [script],
          envs: ["PATH=/bin"],
          timeout: 10n,
        })).stdout,
      );

    // Container a sets data as its root; container b as a non-root mapped uid (identity is the
    // socket, not the uid, unlike ACON's SO_PEERCRED lookup that failed for such callers).
    assertMatch(await sh(a, "aconc set 2 from-a"), /^cmd=3 size=8 got=8$/m);
    assertMatch(await sh(b, "su user -s /bin/sh -c 'aconc set 2 from-b'"), /^cmd=3 size=8/m);

    const report = await c.report({ nonceLo: 1n, nonceHi: 2n, requestType: 0 });
    const json = JSON.parse(report.attestationData);
    assertEquals(json.attestation_data[added.imageId][String(a)], { type: 2, data: "from-a" });
    assertEquals(json.attestation_data[added.imageId][String(b)], { type: 2, data: "from-b" });

    // get_report from inside: the caller's entry is replaced for that report only, with ACON's
    // swapped nonce mapping (nonce[0] is hi).
    const got = await sh(a, "aconc get transient");
    assertMatch(got, /^cmd=1 /m);
    const inner = JSON.parse(/^json=(.*)$/m.exec(got)![1]);
    assertEquals(inner.attestation_data[added.imageId][String(a)], {
      type: 2,
      data: "transient",
    });
    assertEquals(inner.requestor_nonce, [9, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    const after = JSON.parse((await c.report({ requestType: 0 })).attestationData);
    assertEquals(after.attestation_data[added.imageId][String(a)].data, "from-a");

    // A hostile message from inside gets a framed error and the daemon goes on.
    const bad = await sh(a, "aconc short x");
    assertMatch(bad, /^cmd=-1 /m);
    assertMatch(bad, /^error=Invalid structure format$/m);
    assertEquals(
      JSON.parse((await c.report({ requestType: 0 })).attestationData)
        .attestation_data[added.imageId][String(a)].data,
      "from-a",
    );
    assertEquals((await c.health({})).containers, 2);
  } finally {
    await d.stop();
    await Deno.remove(src, { recursive: true }).catch(() => {});
  }
});
