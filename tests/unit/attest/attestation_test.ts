import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  attestationJson,
  nonceBytes,
  nonceFromBytes,
  reportDataFor,
} from "../../../src/attest/attestation.ts";
import { bootEventLine, parseBootEvent } from "../../../src/attest/bootevent.ts";
import { hexDigest, toHex } from "../../../src/digest.ts";

Deno.test("requestor nonce bytes are LE(lo) then LE(hi) (ACON's example lo=1, hi=2)", () => {
  assertEquals(Array.from(nonceBytes(1n, 2n)), [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
  const b = nonceBytes(0xfedcba9876543210n, 0x0123456789abcdefn);
  assertEquals(toHex(b), "1032547698badcfeefcdab8967452301");
  assertEquals(nonceFromBytes(b), { lo: 0xfedcba9876543210n, hi: 0x0123456789abcdefn });
});

Deno.test("attestation JSON: exact field order, sorted images, numeric container order, escaping", () => {
  const json = attestationJson({
    requestorNonce: nonceBytes(1n, 2n),
    acondNonce: new Uint8Array(16).fill(255),
    imageIds: ["sha384/bb/22", "sha384/aa/11", "sha384/cc/33"],
    containers: [
      { id: 10, imageId: "sha384/aa/11", attestData: null },
      { id: 2, imageId: "sha384/aa/11", attestData: { type: 2, data: 'a"b\\c\nd\u0001é/' } },
      { id: 3, imageId: "sha384/cc/33", attestData: { type: 1, data: "" } },
    ],
  });
  const ff = Array(16).fill(255).join(",");
  assertEquals(
    json,
    `{"api_version":"1.0.0","requestor_nonce":[1,0,0,0,0,0,0,0,2,0,0,0,0,0,0,0],` +
      `"acond_nonce":[${ff}],"attestation_data":{"sha384/aa/11":{"2":{"type":2,` +
      `"data":"a\\"b\\\\c\\nd\\u0001é/"},"10":{}},"sha384/bb/22":{},` +
      `"sha384/cc/33":{"3":{"type":1,"data":""}}}}`,
  );
  // serde_json's escapes: short forms for \b \f \n \r \t, \u00xx (lowercase) for the other
  // controls, DEL and non-ASCII (U+2028 too) unescaped.
  const esc = attestationJson({
    requestorNonce: new Uint8Array(16),
    acondNonce: new Uint8Array(16),
    imageIds: ["i"],
    containers: [{
      id: 1,
      imageId: "i",
      attestData: { type: 2, data: "\b\f\t\r\u001f\u007f\u2028" },
    }],
  });
  assertEquals(esc.slice(esc.indexOf('"data"')), '"data":"\\b\\f\\t\\r\\u001f\u007f\u2028"}}}}');
  // It is valid JSON and round-trips the data.
  assertEquals(JSON.parse(json).attestation_data["sha384/aa/11"]["2"].data, 'a"b\\c\nd\u0001é/');
});

Deno.test("attestation JSON with nothing loaded; REPORTDATA = sha384(JSON) || 16 zeros", () => {
  const json = attestationJson({
    requestorNonce: new Uint8Array(16),
    acondNonce: new Uint8Array(16),
    imageIds: [],
    containers: [],
  });
  const z = Array(16).fill(0).join(",");
  assertEquals(
    json,
    `{"api_version":"1.0.0","requestor_nonce":[${z}],"acond_nonce":[${z}],"attestation_data":{}}`,
  );
  const rd = reportDataFor(json);
  assertEquals(rd.length, 64);
  assertEquals(toHex(rd.subarray(0, 48)), hexDigest("sha384", json));
  assertEquals(toHex(rd.subarray(48)), "0".repeat(32));
  assertThrows(() =>
    attestationJson({
      requestorNonce: new Uint8Array(15),
      acondNonce: new Uint8Array(16),
      imageIds: [],
      containers: [],
    })
  );
});

Deno.test("boot event: fixed form, round trip, hostile values refused", () => {
  const facts = {
    version: "0.1.0",
    tee: "tdx",
    pid1: true,
    interactive: false,
    debugConsole: true,
    minHash: "sha384",
  };
  const line = bootEventLine(facts);
  assertEquals(
    line,
    'acond Boot {"version":"0.1.0","tee":"tdx","pid1":true,"interactive":false,' +
      '"debug_console":true,"min_hash":"sha384"}',
  );
  assertEquals(line.includes(" ", "acond Boot ".length), false);
  assertEquals(parseBootEvent(line), facts);
  assertThrows(() => bootEventLine({ ...facts, version: "1 2" }));
  assertThrows(() => bootEventLine({ ...facts, tee: 'x"' }));
  assertEquals(parseBootEvent("acond Boot {"), null);
  assertEquals(parseBootEvent('acond Boot {"version":"1"}'), null);
  assertEquals(parseBootEvent("github.com/intel/ACON Finalize"), null);
});
