/** api/bridge.ts: the splice to Deno's engine and its shared big copy buffers. */
import { assert, assertEquals } from "../../helpers/assert.ts";
import { BigBuffers, Bridge, splice } from "../../../src/api/bridge.ts";

Deno.test("bridge: BigBuffers hands out at most `count` buffers, and reuses what is given back", () => {
  const big = new BigBuffers(2);
  const a = big.take(), b = big.take();
  if (!a || !b) throw new Error("two buffers were asked for");
  assert(a !== b);
  assertEquals(a.length, 1 << 20);
  assertEquals(big.take(), null, "a third one while two are out");
  big.give(a);
  assert(big.take() === a);
});

/** Both ends of a connected pair of real Unix sockets. */
async function socketPair(bridge: Bridge) {
  return await bridge.pair();
}

Deno.test("bridge: splice copies a large body byte for byte both ways, through the big buffers", async () => {
  const bridge = new Bridge();
  const big = new BigBuffers(1);
  try {
    // client ⇄ (a) acond (b) ⇄ splice ⇄ (outer) pair (inner) ⇄ engine
    const { outer: clientSide, inner: acondSide } = await socketPair(bridge);
    const { outer, inner } = await socketPair(bridge);
    const body = new Uint8Array(5 << 20).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
    const first = new TextEncoder().encode("PUT ");
    const done = splice(acondSide, first, outer, big);

    const sending = (async () => {
      for (let at = 0; at < body.length;) {
        at += await clientSide.write(body.subarray(at, at + (3 << 20)));
      }
    })(); // no half-close: the client's going ends the whole connection (splice's doc)
    // The engine's side: everything the client sent, `first` first.
    const got = new Uint8Array(first.length + body.length);
    let n = 0;
    while (n < got.length) {
      const r = await inner.read(got.subarray(n));
      if (r === null) break;
      n += r;
    }
    await sending;
    assertEquals(n, got.length);
    assertEquals(got.subarray(0, first.length), first);
    assert(got.subarray(first.length).every((v, i) => v === body[i]), "the body arrives intact");
    // The answer goes back the other way; the client's going closes everything.
    await inner.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n"));
    inner.close();
    const answer = new Uint8Array(64);
    const r = await clientSide.read(answer);
    assertEquals(new TextDecoder().decode(answer.subarray(0, r ?? 0)), "HTTP/1.1 200 OK\r\n\r\n");
    await done;
    clientSide.close();
    // The upload's copy moved to the big buffer, and gave it back: the next splice may take it.
    assertEquals(big.made, 1, "a big buffer was lent");
    assert(big.take() !== null, "the big buffer came back to the pool");
  } finally {
    bridge.close();
  }
});
