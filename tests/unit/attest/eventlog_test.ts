import { assertEquals } from "../../helpers/assert.ts";
import { ACON_DOMAIN, EventLog, INIT_LINE, replay } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { hexDigest, toHex } from "../../../src/digest.ts";

// ACON's vectors (behaviour file §6.1).
Deno.test("INIT line and its sha384 match ACON", () => {
  assertEquals(
    hexDigest("sha384", INIT_LINE),
    "5d97ae953f7b03a1e93f58f9d621f84d1bdf053d1ec5ad2461262a938ecd4ed4d42d3c5c42084828da1c8051a6c08e6a",
  );
});

Deno.test("replay() gives ACON's RTMR3 after INIT and after INIT+Finalize", () => {
  assertEquals(
    toHex(replay([INIT_LINE])),
    "6c365f76661093e45396aa72e4b9da060ba558a71df61eda609c51ae4b47908d2d04abde885a1501689217d0a2419613",
  );
  assertEquals(
    toHex(replay([INIT_LINE, `${ACON_DOMAIN} Finalize`])),
    "e9eee9ff43a9ea1db51722291bef5c2f2840a102297479f1ac08c4489361be8dd5d200213953ba24a8a90c5386d4272b",
  );
});

Deno.test("EventLog.measure() writes INIT first and the sim RTMR3 equals the replay", async () => {
  const dir = await Deno.makeTempDir();
  const tee = new SimTee();
  const log = new EventLog(`${dir}/rtmr/rtmr3.log`, tee);
  await log.measure(`${ACON_DOMAIN} Finalize`);
  const text = await Deno.readTextFile(`${dir}/rtmr/rtmr3.log`);
  assertEquals(text, `${INIT_LINE}\n${ACON_DOMAIN} Finalize\n`);
  assertEquals(toHex(tee.rtmrs[3]), toHex(replay(log.lines)));
  await Deno.remove(dir, { recursive: true });
});
