// A JSON value the host publishes to every worker through the shared memory: written under a
// sequence lock (odd while the host writes), read by a worker only when the sequence moved, so
// checking for a new version costs one atomic load per wake-up of the worker's poll().
//   @SEQ  i32  bumped before and after each write
//   @LEN  u32  length of the blob in bytes
//   @BLOB      the JSON text
const SEQ = 0;
const LEN = 4;
const BLOB = 8;
export const blobAreaSize = (maxBytes: number): number => BLOB + maxBytes;

export class SharedBlob<T> {
  private readonly i32: Int32Array;
  private readonly dv: DataView;
  private readonly u8: Uint8Array;
  private seen = -1;

  constructor(
    memory: WebAssembly.Memory,
    private readonly base: number,
    private readonly maxBytes: number,
    private readonly what: string,
  ) {
    this.i32 = new Int32Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
  }

  publish(value: T): void {
    const blob = Buffer.from(JSON.stringify(value));
    if (blob.length > this.maxBytes)
      throw new Error(`${this.what} too large (${blob.length} bytes, at most ${this.maxBytes})`);
    const at = (this.base + SEQ) >> 2;
    Atomics.add(this.i32, at, 1);
    this.u8.set(blob, this.base + BLOB);
    this.dv.setUint32(this.base + LEN, blob.length, true);
    Atomics.add(this.i32, at, 1);
  }

  // The value if it changed since the last call, else undefined.
  poll(): T | undefined {
    const at = (this.base + SEQ) >> 2;
    for (;;) {
      const s1 = Atomics.load(this.i32, at);
      if (s1 === this.seen) return undefined;
      if (s1 & 1) continue;
      const len = this.dv.getUint32(this.base + LEN, true);
      const text = Buffer.from(this.u8.subarray(this.base + BLOB, this.base + BLOB + len)).toString();
      if (Atomics.load(this.i32, at) !== s1) continue;
      this.seen = s1;
      return JSON.parse(text) as T;
    }
  }
}
