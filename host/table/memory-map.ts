// Where everything sits in the shared memory, computed once at start from --workers and
// --max-conns. Every thread derives the same map from the same two numbers.
import * as L from "../../assembly/layout";
import { POLICY_AREA_SIZE } from "../policy/shared-policy";
import { ALG_AREA_SIZE } from "./alg-state";
import { NETWORK_AREA_SIZE } from "../net/network-view";

export interface MemoryMap {
  workers: number;
  maxConns: number;
  indexSlots: number; // 1.4 * maxConns: an index is at most 5/7 full
  tableBase: number;
  entries: number;
  lanIndex: number;
  wanIndex: number;
  mapIndex: number;
  remoteIndex: number; // (lan end, remote address) -> entry: address-dependent filtering
  ports: number;
  policy: number; // the shared policy area (host/policy/shared-policy.ts)
  alg: number; // application helper state (host/table/alg-state.ts)
  network: number; // the network view (host/net/network-view.ts)
  end: number;
  pages: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function memoryMap(workers: number, maxConns: number): MemoryMap {
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`workers must be 1..64, got ${workers}`);
  if (!Number.isInteger(maxConns) || maxConns < 16 || maxConns > 4_000_000) throw new Error(`max-conns must be 16..4000000, got ${maxConns}`);
  // Linear probing stays short at 5/7 load (about 2 probes to find a key, 7 to miss one), and
  // a 40-byte entry with four 4-byte indexes costs 62.4 bytes.
  const indexSlots = Math.ceil(maxConns * 1.4);
  const tableBase = L.WORKERS_BASE + workers * L.WORKER_SIZE;
  const entries = tableBase + L.T_HEADER_SIZE;
  const lanIndex = align(entries + maxConns * L.E_SIZE, 64);
  const wanIndex = lanIndex + indexSlots * 4;
  const mapIndex = wanIndex + indexSlots * 4;
  const remoteIndex = mapIndex + indexSlots * 4;
  const ports = remoteIndex + indexSlots * 4;
  const policy = ports + 3 * 65536 * L.P_SIZE;
  const alg = policy + POLICY_AREA_SIZE;
  const network = alg + ALG_AREA_SIZE;
  const end = network + NETWORK_AREA_SIZE;
  const pages = Math.ceil(end / L.WASM_PAGE);
  if (pages > L.MEMORY_MAX_PAGES) throw new Error(`--max-conns ${maxConns} with ${workers} workers needs ${pages} pages of 64 KiB, more than the core's ${L.MEMORY_MAX_PAGES}`);
  return { workers, maxConns, indexSlots, tableBase, entries, lanIndex, wanIndex, mapIndex, remoteIndex, ports, policy, alg, network, end, pages };
}

export const workerBase = (id: number): number => L.WORKERS_BASE + id * L.WORKER_SIZE;
export const statsAddress = (id: number): number => workerBase(id) + L.W_STATS;
export const descAddress = (id: number): number => workerBase(id) + L.W_DESC;
export const slotAddress = (id: number, k: number): number => workerBase(id) + L.W_SLAB + k * L.SLOT_SIZE;
