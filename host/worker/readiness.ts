// "ready" means forwarding. A worker thread needs about a second to start and compile its core;
// until its loop polls its TUN queues, what the kernel steers there waits. Each worker counts
// itself in the table header (T_WORKERS_READING) when its loop starts and out when it ends; the
// host says "ready" (stdout, sd_notify, a graceful restart's hand-over) only once all of them read.
import * as L from "../../assembly/layout";
import type { MemoryMap } from "../shm/memory-map";

const slot = (map: MemoryMap): number => (map.tableBase + L.T_WORKERS_READING) >> 2;

// A worker: its loop reads from now on (+1), or no longer (-1).
export function markReading(memory: WebAssembly.Memory, map: MemoryMap, delta: 1 | -1): void {
  const i32 = new Int32Array(memory.buffer);
  Atomics.add(i32, slot(map), delta);
  Atomics.notify(i32, slot(map));
}

export const workersReading = (memory: WebAssembly.Memory, map: MemoryMap): number =>
  Atomics.load(new Int32Array(memory.buffer), slot(map));

// The host: resolves once `count` workers read; rejects if a worker task ends first.
export async function allReading(
  memory: WebAssembly.Memory,
  map: MemoryMap,
  count: number,
  tasks: Promise<unknown>[],
): Promise<void> {
  const i32 = new Int32Array(memory.buffer);
  let ended: Error | undefined;
  void Promise.race(tasks).then(
    () => {
      ended = new Error("a worker ended before it read its queues");
    },
    (e: Error) => {
      ended = e;
    },
  );
  for (let n = Atomics.load(i32, slot(map)); n < count; n = Atomics.load(i32, slot(map))) {
    if (ended) throw ended;
    await Atomics.waitAsync(i32, slot(map), n, 100).value; // woken by markReading, or looks again
  }
}
