/**
 * api/protowire.ts, the streamed protobuf wire reader behind the streamed AddBlob: on encodings
 * made by protobuf-es (fields in any order, repeated, unknown fields and groups between them,
 * split into pieces anywhere) it reads what fromBinary reads; whatever it accepts, fromBinary
 * accepts with the same values; malformed wire is a WireError.
 */
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";
import { LEN, VARINT, WireError, WireReader } from "../../../src/api/protowire.ts";
import { AddBlobRequestSchema } from "../../../src/gen/acon_pb.ts";

const FIELDS = new Map([[1, VARINT], [2, LEN]]);

interface Read {
  alg: number;
  data: Uint8Array;
  /** How many data fields began. */
  datas: number;
}

/** Reads `bytes` fed in pieces cut at `cuts`, as the last-one-wins protobuf semantics say. */
function read(bytes: Uint8Array, cuts: number[] = []): Read {
  const r = new WireReader(FIELDS);
  const out: Read = { alg: 0, data: new Uint8Array(0), datas: 0 };
  let parts: Uint8Array[] = [];
  let declared = -1;
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...at, bytes.length]) {
    // A copy: views are valid until the next piece only, and pieces are reused by real readers.
    for (const e of r.feed(bytes.slice(from, to))) {
      if (e.kind === "varint") out.alg = e.value;
      else if (e.kind === "begin") (parts = [], declared = e.length, out.datas++);
      else if (e.kind === "chunk") parts.push(e.bytes.slice());
      else {
        const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) (data.set(p, o), o += p.length);
        assertEquals(data.length, declared);
        out.data = data;
      }
    }
    from = to;
  }
  r.finish();
  return out;
}

type Unknown = { no: number; kind: "varint" | "i32" | "i64" | "len" | "group"; depth: number };

const unknownField: fc.Arbitrary<Unknown> = fc.record({
  no: fc.oneof(fc.integer({ min: 3, max: 20 }), fc.integer({ min: 3, max: (1 << 29) - 1 })),
  kind: fc.constantFrom("varint", "i32", "i64", "len", "group"),
  depth: fc.integer({ min: 0, max: 3 }),
});

function writeUnknown(w: BinaryWriter, u: Unknown): void {
  switch (u.kind) {
    case "varint":
      w.tag(u.no, WireType.Varint).uint64(BigInt(u.no) * 0x1234567n);
      break;
    case "i32":
      w.tag(u.no, WireType.Bit32).fixed32(u.no);
      break;
    case "i64":
      w.tag(u.no, WireType.Bit64).fixed64(BigInt(u.no));
      break;
    case "len":
      w.tag(u.no, WireType.LengthDelimited).bytes(new Uint8Array(u.no % 300).fill(0x12));
      break;
    case "group":
      // Inside a group even fields 1 and 2 belong to the group, not to the message.
      w.tag(u.no, WireType.StartGroup);
      w.tag(1, WireType.Varint).uint32(99);
      w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array([9, 9]));
      if (u.depth > 0) writeUnknown(w, { ...u, depth: u.depth - 1 });
      w.tag(u.no, WireType.EndGroup);
      break;
  }
}

/** One record of the message: a known field, or an unknown one. */
type Rec = { alg: number } | { data: Uint8Array } | { unknown: Unknown };

const rec: fc.Arbitrary<Rec> = fc.oneof(
  fc.record({ alg: fc.nat({ max: 0xffffffff }) }),
  fc.record({ data: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({ unknown: unknownField }),
);

function encode(recs: Rec[]): Uint8Array {
  const w = new BinaryWriter();
  for (const r of recs) {
    if ("alg" in r) w.tag(1, WireType.Varint).uint32(r.alg);
    else if ("data" in r) w.tag(2, WireType.LengthDelimited).bytes(r.data);
    else writeUnknown(w, r.unknown);
  }
  return w.finish();
}

Deno.test("protowire: reads what fromBinary reads, fields in any order, repeated, in any pieces", () => {
  fc.assert(
    fc.property(
      fc.array(rec, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (recs, cuts) => {
        const bytes = encode(recs);
        const ref = fromBinary(AddBlobRequestSchema, bytes);
        const got = read(bytes, cuts);
        assertEquals(got.alg, ref.alg);
        assertEquals(got.data, ref.data);
        assertEquals(got.datas, recs.filter((r) => "data" in r).length);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("protowire: toBinary's own encodings (alg first, then data) read back", () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.uint8Array({ maxLength: 2000 }), (alg, data) => {
      const bytes = toBinary(AddBlobRequestSchema, create(AddBlobRequestSchema, { alg, data }));
      const got = read(bytes, [1, 3, 7]);
      assertEquals([got.alg, got.data], [alg, data]);
    }),
  );
});

Deno.test("protowire: whatever it accepts, fromBinary accepts with the same values", () => {
  const mutated = fc.tuple(
    fc.array(rec, { maxLength: 5 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
    fc.nat(),
  ).map(([recs, flips, cut]) => {
    const b = encode(recs);
    for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
    return b.subarray(0, b.length === 0 ? 0 : b.length - (cut % 3));
  });
  let accepted = 0, refused = 0;
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), mutated), (bytes) => {
      let got: Read;
      try {
        got = read(bytes, [2, 5]);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        refused++;
        return;
      }
      accepted++;
      const ref = fromBinary(AddBlobRequestSchema, bytes);
      assertEquals([got.alg, got.data], [ref.alg, ref.data]);
    }),
    { numRuns: 2000 },
  );
  assert(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}`);
});

Deno.test("protowire: malformed wire is refused with a WireError that says where", () => {
  const bad: [string, number[], RegExp][] = [
    ["field number 0", [0x02, 0x00], /illegal tag: field no 0/],
    ["wire type 6", [0x0e], /wire type 6/],
    ["tag over 32 bits", [0x80, 0x80, 0x80, 0x80, 0x10], /varint overflows uint32/],
    ["varint of 11 bytes", [0x08, ...new Array(10).fill(0xff), 0x01], /longer than 10 bytes/],
    ["alg as bytes", [0x0a, 0x00], /field 1 has wire type 2, expected 0/],
    ["data as varint", [0x10, 0x05], /field 2 has wire type 0, expected 2/],
    ["end group outside a group", [0x1c], /outside a group/],
    ["mismatched end group", [0x1b, 0x24], /invalid end group tag/],
    ["unended group", [0x1b, 0x08, 0x01], /group 3 not ended/],
    ["data shorter than its length", [0x12, 0x05, 1, 2], /truncated inside a field/],
    ["truncated varint", [0x08, 0x80], /truncated inside a field/],
    ["truncated tag", [0x80], /truncated inside a field/],
  ];
  for (const [what, bytes, why] of bad) {
    assertThrows(() => read(new Uint8Array(bytes)), (e: Error) => {
      assert(e instanceof WireError, `${what}: ${e}`);
      assert(why.test(e.message), `${what}: ${e.message}`);
      return true;
    });
  }
  const deep = new Uint8Array(33 * 2).fill(0x1b); // 33 nested groups of field 3
  assertThrows(() => read(deep), /groups nested deeper than 32/);
});

Deno.test("protowire: a data field is streamed as views of the pieces, never gathered", () => {
  const data = new Uint8Array(100_000).map((_, i) => i & 0xff);
  const bytes = encode([{ alg: 2 }, { data }, { unknown: { no: 9, kind: "len", depth: 0 } }]);
  const r = new WireReader(FIELDS);
  const piece = bytes.subarray(0, 50_000);
  const events = [...r.feed(piece)];
  assertEquals(events.slice(0, 2), [
    { kind: "varint", field: 1, value: 2 },
    { kind: "begin", field: 2, length: 100_000 },
  ]);
  const chunk = events[2];
  assert(chunk.kind === "chunk" && chunk.bytes.buffer === piece.buffer, "a view, not a copy");
  assertEquals(r.position, 50_000);
  const rest = [...r.feed(bytes.subarray(50_000))];
  assertEquals(rest.map((e) => e.kind), ["chunk", "end"]);
  r.finish();
});
