/**
 * Typed wrapper over ffi/layer.c: a batch of new regular files, written in one nonblocking call
 * (another thread) under a directory. add() packs each record and copies its data into the batch's
 * buffer at once, so the caller's data may be reused right after add(). The buffer is kept by
 * reset() for the next batch: a layer's bytes are copied into warm memory, never into fresh pages.
 */
import { SysError } from "./errors.ts";
import { FILE_CHMOD, FILE_RECORD } from "./abi.ts";
import { cstr, shim } from "./lib.ts";

const R = FILE_RECORD;
const enc = new TextEncoder();
/** The buffer's first size; it doubles to hold what is added. */
const INITIAL_BYTES = 64 << 10;
/** reset() lets a buffer grown beyond this go (a batch that held one large file). */
const KEEP_BYTES = 8 << 20;

export class FileBatch {
  #buf = new Uint8Array(INITIAL_BYTES);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  #names: string[] = [];
  #bytes = 0;
  #writing = false;

  get count(): number {
    return this.#names.length;
  }
  /** Bytes of file data in the batch. */
  get bytes(): number {
    return this.#bytes;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const buf = new Uint8Array(size);
    buf.set(this.#buf.subarray(0, this.#len));
    this.#buf = buf;
    this.#view = new DataView(buf.buffer);
  }

  /**
   * A new file at `path` (relative to the directory, no `..`, no symlinks on the way) with
   * permission bits `mode`; `chmod` when the umask may clear some of them; atime = mtime. `data`
   * is copied.
   */
  add(path: string, data: Uint8Array, mode: number, chmod: boolean, mtime: number): void {
    if (this.#writing) throw new Error("FileBatch: add() during write()");
    this.#reserve(R.SIZE + path.length * 3 + data.length);
    const off = this.#len;
    const { written } = enc.encodeInto(path, this.#buf.subarray(off + R.SIZE));
    const v = this.#view;
    v.setUint32(off + R.PATH_LEN, written, true);
    v.setUint32(off + R.MODE, mode, true);
    v.setUint32(off + R.FLAGS, chmod ? FILE_CHMOD : 0, true);
    v.setUint32(off + R.RESERVED, 0, true);
    v.setBigInt64(off + R.MTIME, BigInt(mtime), true);
    v.setBigUint64(off + R.DATA_LEN, BigInt(data.length), true);
    this.#buf.set(data, off + R.SIZE + written);
    this.#len = off + R.SIZE + written + data.length;
    this.#names.push(path);
    this.#bytes += data.length;
  }

  /** Empties the batch, keeping its buffer (not while a write() is running). */
  reset(): void {
    if (this.#writing) throw new Error("FileBatch: reset() during write()");
    this.#len = 0;
    this.#names = [];
    this.#bytes = 0;
    if (this.#buf.length > KEEP_BYTES) {
      this.#buf = new Uint8Array(INITIAL_BYTES);
      this.#view = new DataView(this.#buf.buffer);
    }
  }

  /**
   * Writes the batch on another thread; the batch takes no add() or reset() until the returned
   * promise settles. Throws SysError naming the file that failed.
   */
  write(dir: string): Promise<void> {
    const buf = this.#buf;
    const len = this.#len;
    const names = this.#names;
    const count = names.length;
    const failed = new Uint32Array(1);
    const dirC = cstr(dir);
    this.#writing = true;
    return shim().shim_write_files(dirC, buf, BigInt(len), count, failed).then(
      (ret) => {
        const n = Number(ret);
        if (n < 0) throw new SysError(-n, "write_files", `${dir}/${names[failed[0]] ?? "?"}`);
        // dirC, buf and failed stay referenced until the call is done.
        void dirC;
      },
    ).finally(() => {
      this.#writing = false;
    });
  }
}
