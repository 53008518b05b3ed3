/**
 * The launch configuration as PID 1 receives it (QEMU): delivered by the host through fw_cfg
 * (`opt/acond/config`), bound by MRCONFIGID (the sim TEE's, set with acond.sim_mrconfigid).
 * Accepted, its settings are applied and its digest measured in the boot event (trustedSigners
 * refuses another signer; the limits change). A document with one byte
 * changed is refused: a clear console message, no image accepted, Health and Report still answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, opensslHex, signedManifest } from "../helpers/image.ts";
import { boot, ensureImage } from "./qemu.ts";

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

/** Boots with `doc` in fw_cfg and MRCONFIGID = `mrConfigId`. */
async function bootWith(doc: string, mrConfigId: string) {
  const dir = await Deno.makeTempDir({ prefix: "acond-lc-e2e-" });
  await Deno.writeTextFile(`${dir}/config.json`, doc);
  return boot([`acond.sim_mrconfigid=${mrConfigId}`], {
    qemuArgs: ["-fw_cfg", `name=opt/acond/config,file=${dir}/config.json`],
  });
}

Deno.test("PID 1: a launch configuration from fw_cfg bound by MRCONFIGID is applied and measured; one byte changed is refused, no image accepted", async () => {
  await ensureImage();
  const a = await makeSigner("ec-p384");
  const b = await makeSigner("ec-p384", undefined, true);
  const doc = JSON.stringify({
    version: 1,
    trustedSigners: [`sha384/${await opensslHex("sha384", a.certificate)}`],
    limits: { pidsMax: 77 },
  });
  const digest = await opensslHex("sha384", doc);

  const vm = await bootWith(doc, digest);
  try {
    await vm.waitReady();
    await vm.waitSerial(/launch configuration [0-9a-f]{96} accepted \(bound by MRCONFIGID\)/);
    const bootLine = (await vm.client.getEventLog({})).lines[1];
    assertMatch(bootLine, /"pids_max":77/);
    assertMatch(bootLine, new RegExp(`"launch_config":"${digest}"`));
    await vm.client.addManifest(await signedManifest(a, baseManifest()));
    const e = await refusal(vm.client.addManifest(await signedManifest(b, baseManifest())));
    assertEquals(e.code, Code.PermissionDenied, e.message);
    await vm.client.shutdown({ graceSeconds: 1n });
    assertEquals(await vm.waitExit(), 0);
  } catch (e) {
    console.error(vm.serial().split("\n").slice(-40).join("\n"));
    throw e;
  } finally {
    await vm.kill();
  }

  // The host changes one byte: MRCONFIGID no longer binds it.
  const changed = doc.replace('"pidsMax":77', '"pidsMax":78');
  const vm2 = await bootWith(changed, digest);
  try {
    await vm2.waitReady();
    await vm2.waitSerial(
      /launch configuration refused: its SHA-384 [0-9a-f]+ is not the TD's MRCONFIGID/,
    );
    const e = await refusal(vm2.client.addManifest(await signedManifest(a, baseManifest())));
    assertEquals(e.code, Code.FailedPrecondition, e.message);
    assertMatch(e.message, /launch configuration refused/);
    assertEquals((await vm2.client.health({})).pid1, true);
    const r = await vm2.client.report({ nonceLo: 1n, nonceHi: 2n, requestType: 0 });
    assertEquals(r.data.length > 0, true);
    const bootLine = (await vm2.client.getEventLog({})).lines[1];
    assertEquals(bootLine.includes("launch_config"), false, bootLine);
    await vm2.client.shutdown({ graceSeconds: 1n });
    assertEquals(await vm2.waitExit(), 0);
  } catch (e) {
    console.error(vm2.serial().split("\n").slice(-40).join("\n"));
    throw e;
  } finally {
    await vm2.kill();
  }
});
