// The live policy, shared with every worker through the shared memory: the host publishes a new
// version (host/shm/shared-blob.ts); each worker checks the version once per batch and
// re-reads it when it changed. Rule counters (packets, bytes of the packets each rule decided)
// live beside it, added to by every worker.
import type { Policy } from "./rules";
import { SharedBlob } from "../shm/shared-blob";
import { POLICY_BLOB_MAX, POLICY_COUNTERS_SIZE } from "../shm/memory-map";
import { MAX_COUNTERS } from "./limits";

const COUNTERS = 0; // f64 pairs: packets, bytes
const BLOB = POLICY_COUNTERS_SIZE;

export class SharedPolicy {
  readonly counters: Float64Array;
  private readonly blob: SharedBlob<Policy>;

  constructor(memory: WebAssembly.Memory, base: number) {
    this.counters = new Float64Array(memory.buffer, base + COUNTERS, MAX_COUNTERS * 2);
    this.blob = new SharedBlob<Policy>(memory, base + BLOB, POLICY_BLOB_MAX, "policy");
  }

  publish(p: Policy): void {
    this.blob.publish(p);
  }

  // The policy if it changed since the last call, else undefined.
  poll(): Policy | undefined {
    return this.blob.poll();
  }

  count(counter: number, bytes: number): void {
    if (counter < 0 || counter >= MAX_COUNTERS) return;
    this.counters[counter * 2] += 1;
    this.counters[counter * 2 + 1] += bytes;
  }

  zero(): void {
    this.counters.fill(0);
  }
  packets(counter: number): number {
    return counter >= 0 ? this.counters[counter * 2] : 0;
  }
  bytes(counter: number): number {
    return counter >= 0 ? this.counters[counter * 2 + 1] : 0;
  }
}
