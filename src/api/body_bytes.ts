/**
 * A request body read whole, up to a bound, by the routes that must see its bytes before Connect
 * does (./malformed.ts, ./unary.ts). What cannot be kept whole (too long, or a read that failed)
 * is handed on as a stream that gives the chunks read so far and then the rest, so the next route
 * sees the body as the client sent it.
 */

export interface ReadSoFar {
  chunks: Uint8Array[];
  size: number;
  /** More than `max` bytes came: `reader` holds the rest. */
  over: boolean;
}

/**
 * Reads until the end or until more than `max` bytes came; a failed read throws (what was read
 * before it is in `chunks`, when the caller gives the array).
 */
export async function readAtMost(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  max: number,
  chunks: Uint8Array[] = [],
): Promise<ReadSoFar> {
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) return { chunks, size, over: false };
    chunks.push(r.value);
    size += r.value.length;
    if (size > max) return { chunks, size, over: true };
  }
}

/** The chunks as one buffer (the chunk itself when there is one). */
export function joined(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1 && chunks[0].buffer instanceof ArrayBuffer) {
    return chunks[0] as Uint8Array<ArrayBuffer>;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (all.set(c, at), at += c.length);
  return all;
}

/**
 * A body of `chunks`, then the rest of `reader`; or, when `failure` is given (the read that ended
 * with it), the chunks and then that failure.
 */
export function replayed(
  chunks: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
  failure?: { error: unknown },
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = chunks.shift();
      if (next) return c.enqueue(next);
      if (failure) return c.error(failure.error);
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: (why) => failure ? undefined : reader.cancel(why),
  });
}
