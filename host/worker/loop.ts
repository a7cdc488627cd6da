// One worker: a long-lived loop (started as a Piscina task) that owns queue `id` of every TUN
// device — one device per ingress interface, so each batch comes from one known side.
// poll every device's queue -> read a batch into the slab -> one core call for the whole batch
// -> slow path for the few packets that need it -> write back into the base device. Nothing per
// packet crosses threads; the loop talks to the host only through shared memory (the network
// view says which devices there are), and stops when T_STOP is set.
import * as L from "../../assembly/layout";
import { createCore, type CoreKind } from "../core/core";
import { ConnTable } from "../table/conntrack";
import { memoryMap, slotAddress, statsAddress, descAddress } from "../shm/memory-map";
import { SlowPath, type PathOptions, A_FORWARD, A_PASS, A_REPLY, A_HELD } from "./slow-path";
import { SharedPolicy } from "../policy/shared-policy";
import { sharedNetworkView, type NetworkView, type IngressView } from "../net/network-view";
import { libc, POLLIN } from "../tun/libc";
import { pinWorker } from "./pin";
import { markReading } from "./readiness";

export interface WorkerTask {
  memory: WebAssembly.Memory;
  core: CoreKind;
  id: number;
  workers: number;
  maxConns: number;
  options: PathOptions;
  busyPollUs: number; // after traffic, keep polling without sleeping this long (0: sleep at once)
  pin: boolean; // run on the id-th CPU the process may use (host/worker/pin.ts)
}

const POLL_MS = 200; // how long a change of devices (or a stop) may wait when nothing arrives
const POLLFD_SIZE = 8; // struct pollfd (poll(2)): int fd, short events, short revents
const POLLFD_EVENTS = 4;
const POLLFD_REVENTS = 6;
const MAX_DEVICES = 64;

export async function runWorker(task: WorkerTask): Promise<{ id: number }> {
  const { memory, id } = task;
  libc().nameThread(`ipmasq-w${id}`); // which thread is which in top -H, perf, taskset
  const unpinned = task.pin ? pinWorker(id) : undefined;
  if (unpinned) process.stderr.write(`ipmasq: --pin: ${unpinned}\n`);
  const map = memoryMap(task.workers, task.maxConns);
  const core = createCore(task.core, memory);
  core.setTable(map.tableBase);
  const table = new ConnTable(memory, map);
  const stats = statsAddress(id);
  const desc = descAddress(id);
  const shared = new SharedPolicy(memory, map.policy);
  const netBlob = sharedNetworkView(memory, map.network);
  let net: NetworkView = netBlob.poll()!;
  const slow = new SlowPath(core, table, memory, task.options, shared.poll()!, shared, stats, net);
  const dv = new DataView(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const f64 = new Float64Array(memory.buffer, stats, L.STATS_SLOTS);
  const stopAt = (map.tableBase + L.T_STOP) >> 2;
  const c = libc();

  const views: Uint8Array[] = [];
  for (let k = 0; k < L.BATCH_MAX; k++) {
    views.push(new Uint8Array(memory.buffer, slotAddress(id, k), L.SLOT_SIZE));
    dv.setUint32(desc + k * L.D_SIZE + L.D_OFFSET, slotAddress(id, k), true);
  }
  const pfds = Buffer.alloc(MAX_DEVICES * POLLFD_SIZE);
  let sources: IngressView[] = [];
  let writeFd = -1;
  const watch = (v: NetworkView): void => {
    sources = v.ingress.slice(0, MAX_DEVICES);
    writeFd = v.writeFds[id];
    pfds.fill(0);
    sources.forEach((s, i) => {
      pfds.writeInt32LE(s.fds[id], i * POLLFD_SIZE);
      pfds.writeInt16LE(POLLIN, i * POLLFD_SIZE + POLLFD_EVENTS);
    });
  };
  watch(net);

  const send = (k: number, len: number): void => {
    if (c.write(writeFd, views[k], len) < 0) f64[L.S_WRITE_ERRORS]++;
  };

  // Reads and handles batches from one device's queue until it is empty.
  const drain = (src: IngressView): void => {
    const fd = src.fds[id];
    const side = src.wan ? L.IN_WAN : L.IN_INSIDE;
    for (;;) {
      let n = 0;
      while (n < L.BATCH_MAX) {
        const len = c.read(fd, views[n], L.SLOT_SIZE);
        if (len <= 0) break; // EAGAIN: the queue is drained
        dv.setUint32(desc + n * L.D_SIZE + L.D_LENGTH, len, true);
        n++;
      }
      if (n === 0) return;
      if (net.standby) {
        f64[L.S_STANDBY] += n;
        if (n < L.BATCH_MAX) return;
        continue;
      } // an HA backup forwards nothing
      f64[L.S_READS] += n;
      for (let k = 0; k < n; k++)
        f64[L.S_READ_BYTES] += dv.getUint32(desc + k * L.D_SIZE + L.D_LENGTH, true) - L.VNET_HDR_LEN;
      core.processBatch(desc, n, stats, side);
      for (let k = 0; k < n; k++) {
        const d = desc + k * L.D_SIZE;
        const verdict = dv.getUint32(d + L.D_VERDICT, true);
        const len = dv.getUint32(d + L.D_LENGTH, true);
        if (verdict === L.V_FORWARD) {
          send(k, len);
          continue;
        }
        if (verdict === L.V_DROP) continue; // counted by the core
        let action: number;
        try {
          action = slow.handle(slotAddress(id, k), len, dv.getUint32(d + L.D_REASON, true), src);
        } catch (e) {
          // a packet the slow path cannot handle is dropped and counted; the gateway goes on
          if (f64[L.S_SLOW_ERRORS]++ === 0)
            process.stderr.write(
              `ipmasq: worker ${id}: slow path error (first of its kind; later ones only counted): ${(e as Error).stack ?? e}\n`,
            );
          continue;
        }
        if (action === A_HELD) continue;
        if (action === A_FORWARD || action === A_PASS) {
          if (action === A_PASS) f64[L.S_PASSED]++;
          send(k, slow.length);
        } else {
          f64[L.S_DROPS + slow.reason]++;
          if (action === A_REPLY) {
            f64[L.S_REPLIES]++;
            send(k, slow.length);
          }
        }
      }
      if (n < L.BATCH_MAX) return;
    }
  };

  // Adaptive polling: for busyPollUs after the last packet the loop asks poll() not to sleep, so
  // a reply that comes back at once is read without a wake-up; then it sleeps until the next.
  const busyNs = BigInt(task.busyPollUs) * 1000n;
  let lastWork = 0n;
  markReading(memory, map, 1);
  while (Atomics.load(i32, stopAt) === 0) {
    const spin = busyNs > 0n && process.hrtime.bigint() - lastWork < busyNs;
    const ready = c.poll(pfds, sources.length, spin ? 0 : POLL_MS);
    const changed = netBlob.poll(); // new devices, a new WAN address
    if (changed) {
      net = changed;
      slow.network = net;
      watch(net);
      continue;
    }
    if (ready <= 0) continue;
    slow.policy = shared.poll() ?? slow.policy; // a live change (ipmasq ipchains ...)
    for (let i = 0; i < sources.length; i++) {
      if (pfds.readInt16LE(i * POLLFD_SIZE + POLLFD_REVENTS) !== 0) drain(sources[i]);
    }
    if (busyNs > 0n) lastWork = process.hrtime.bigint();
  }
  markReading(memory, map, -1);
  return { id };
}
