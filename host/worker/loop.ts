// One worker: a long-lived loop (started as a Piscina task) that owns one TUN queue.
// read a batch into the slab -> one core call for the whole batch -> slow path for the few
// packets that need it -> write back. Nothing per packet crosses threads; the loop talks to the
// host only through shared memory, and stops when T_STOP is set.
import * as L from "../../assembly/layout";
import { createCore, CoreKind } from "../core/core";
import { ConnTable } from "../table/conntrack";
import { memoryMap, slotAddress, statsAddress, descAddress } from "../table/memory-map";
import { SlowPath, Sides, A_FORWARD, A_PASS, A_REPLY, A_HELD } from "./slow-path";
import { SharedPolicy } from "../policy/shared-policy";
import * as libc from "../tun/libc";

export interface WorkerTask {
  memory: WebAssembly.Memory;
  core: CoreKind;
  id: number;
  fd: number;
  workers: number;
  maxConns: number;
  sides: Sides;
}

// Stats slots the worker keeps beside the core's (same f64 block, past the drop reasons).
export const S_WRITE_ERRORS = L.S_DROPS + L.R_COUNT;
export const S_REPLIES = L.S_DROPS + L.R_COUNT + 1;
export const S_SLOW_ERRORS = L.S_DROPS + L.R_COUNT + 2; // packets the slow path failed on (dropped)
export const STATS_SLOTS = 64;

export async function runWorker(task: WorkerTask): Promise<{ id: number }> {
  const { memory, id, fd } = task;
  const map = memoryMap(task.workers, task.maxConns);
  const core = createCore(task.core, memory);
  core.setTable(map.tableBase);
  const table = new ConnTable(memory, map);
  const stats = statsAddress(id);
  const desc = descAddress(id);
  const shared = new SharedPolicy(memory, map.policy);
  const slow = new SlowPath(core, table, memory, task.sides, shared.poll()!, shared, stats);
  const dv = new DataView(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const f64 = new Float64Array(memory.buffer, stats, STATS_SLOTS);
  const stopAt = (map.tableBase + L.T_STOP) >> 2;

  const views: Uint8Array[] = [];
  for (let k = 0; k < L.BATCH_MAX; k++) {
    views.push(new Uint8Array(memory.buffer, slotAddress(id, k), L.SLOT_SIZE));
    dv.setUint32(desc + k * L.D_SIZE + L.D_OFFSET, slotAddress(id, k), true);
  }
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(libc.POLLIN, 4);

  const send = (k: number, len: number): void => {
    if (libc.write(fd, views[k], len) < 0) f64[S_WRITE_ERRORS]++;
  };

  while (Atomics.load(i32, stopAt) === 0) {
    if (libc.poll(pfd, 1, 200) <= 0) continue;
    slow.policy = shared.poll() ?? slow.policy; // a live change (ipmasq ipchains ...)
    for (;;) {
      let n = 0;
      while (n < L.BATCH_MAX) {
        const len = libc.read(fd, views[n], L.SLOT_SIZE);
        if (len <= 0) break; // EAGAIN: the queue is drained
        dv.setUint32(desc + n * L.D_SIZE + L.D_LENGTH, len, true);
        n++;
      }
      if (n === 0) break;
      core.processBatch(desc, n, stats);
      for (let k = 0; k < n; k++) {
        const d = desc + k * L.D_SIZE;
        const verdict = dv.getUint32(d + L.D_VERDICT, true);
        const len = dv.getUint32(d + L.D_LENGTH, true);
        if (verdict === L.V_FORWARD) { send(k, len); continue; }
        if (verdict === L.V_DROP) continue; // counted by the core
        let action: number;
        try {
          action = slow.handle(slotAddress(id, k), len, dv.getUint32(d + L.D_REASON, true));
        } catch (e) {
          // a packet the slow path cannot handle is dropped and counted; the gateway goes on
          if (f64[S_SLOW_ERRORS]++ === 0) process.stderr.write(`ipmasq: worker ${id}: slow path error (first of its kind; later ones only counted): ${(e as Error).stack ?? e}\n`);
          continue;
        }
        if (action === A_HELD) continue;
        if (action === A_FORWARD || action === A_PASS) {
          if (action === A_PASS) f64[L.S_PASSED]++;
          send(k, slow.length);
        } else {
          f64[L.S_DROPS + slow.reason]++;
          if (action === A_REPLY) { f64[S_REPLIES]++; send(k, slow.length); }
        }
      }
      if (n < L.BATCH_MAX) break;
    }
  }
  return { id };
}
