// The live policy, shared with every worker through the shared memory: the host publishes a new
// version (a JSON blob under a sequence lock); each worker checks the version once per batch and
// re-reads it when it changed. Rule counters (packets, bytes of the packets each rule decided)
// live beside it, added to by every worker.
import { Policy } from "./rules";
import { MAX_COUNTERS } from "./ipchains";

export const POLICY_BLOB_MAX = 1 << 20;
export const POLICY_AREA_SIZE = 16 + MAX_COUNTERS * 16 + POLICY_BLOB_MAX;

const SEQ = 0; // i32: odd while the host writes
const LEN = 4; // u32: blob length
const COUNTERS = 16; // f64 pairs: packets, bytes
const BLOB = COUNTERS + MAX_COUNTERS * 16;

export class SharedPolicy {
  private readonly i32: Int32Array;
  private readonly dv: DataView;
  private readonly u8: Uint8Array;
  readonly counters: Float64Array;
  private seen = -1;

  constructor(memory: WebAssembly.Memory, private readonly base: number) {
    this.i32 = new Int32Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
    this.counters = new Float64Array(memory.buffer, base + COUNTERS, MAX_COUNTERS * 2);
  }

  publish(p: Policy): void {
    const blob = Buffer.from(JSON.stringify(p));
    if (blob.length > POLICY_BLOB_MAX) throw new Error(`policy too large (${blob.length} bytes)`);
    const at = this.base >> 2;
    Atomics.add(this.i32, at + SEQ, 1);
    this.u8.set(blob, this.base + BLOB);
    this.dv.setUint32(this.base + LEN, blob.length, true);
    Atomics.add(this.i32, at + SEQ, 1);
  }

  // The policy if it changed since the last call, else undefined.
  poll(): Policy | undefined {
    const at = this.base >> 2;
    for (;;) {
      const s1 = Atomics.load(this.i32, at + SEQ);
      if (s1 === this.seen) return undefined;
      if (s1 & 1) continue;
      const len = this.dv.getUint32(this.base + LEN, true);
      const text = Buffer.from(this.u8.subarray(this.base + BLOB, this.base + BLOB + len)).toString();
      if (Atomics.load(this.i32, at + SEQ) !== s1) continue;
      this.seen = s1;
      return JSON.parse(text) as Policy;
    }
  }

  count(counter: number, bytes: number): void {
    if (counter < 0 || counter >= MAX_COUNTERS) return;
    this.counters[counter * 2] += 1;
    this.counters[counter * 2 + 1] += bytes;
  }

  zero(): void { this.counters.fill(0); }
  packets(counter: number): number { return counter >= 0 ? this.counters[counter * 2] : 0; }
  bytes(counter: number): number { return counter >= 0 ? this.counters[counter * 2 + 1] : 0; }
}
