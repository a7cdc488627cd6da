// A shared memory with a small connection table and both cores over it, for core-level tests.
import { createCore, createMemory, type Core, type CoreKind } from "../host/core/core";
import { memoryMap, type MemoryMap, slotAddress, statsAddress, descAddress } from "../host/shm/memory-map";
import { ConnTable, DEFAULT_TIMEOUTS } from "../host/table/conntrack";
import { parseAddr } from "../host/net/addr";
import { parseAddr6 } from "../host/net/addr6";
import type { Npt6 } from "../host/net/npt6";
import * as L from "../assembly/layout";

export interface CoreSetup {
  memory: WebAssembly.Memory;
  map: MemoryMap;
  table: ConnTable;
  cores: Record<CoreKind, Core>;
  u8: Uint8Array;
  slot: number; // address of worker 0's first packet slot
  stats: number;
  desc: number;
}

// `npt6`: NPTv6 mappings (host/net/npt6.ts), as --npt6 gives them.
export function coreSetup(maxConns = 1024, npt6: Npt6[] = []): CoreSetup {
  const map = memoryMap(1, maxConns);
  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({ seed: 12345, portMin: 1024, portMax: 65535, timeouts: DEFAULT_TIMEOUTS, mssClamp: 0, npt6 });
  const cores = { wasm: createCore("wasm", memory), ts: createCore("ts", memory) };
  cores.wasm.setTable(map.tableBase);
  cores.ts.setTable(map.tableBase);
  return {
    memory,
    map,
    table,
    cores,
    u8: new Uint8Array(memory.buffer),
    slot: slotAddress(0, 0),
    stats: statsAddress(0),
    desc: descAddress(0),
  };
}

export interface FlowSpec {
  proto: number;
  lan: string;
  lanPort: number;
  remote: string;
  remotePort: number;
  wan: string;
  wanPort: number;
  fixed?: boolean;
}

// An IPv6 flow (routed: no public end).
export interface FlowSpec6 {
  proto: number;
  lan: string;
  lanPort: number;
  remote: string;
  remotePort: number;
}

export function addFlows6(s: CoreSetup, flows: FlowSpec6[]): void {
  for (const f of flows) {
    const state = f.proto === L.PROTO_TCP ? L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED : 0;
    if (s.table.v6.create(f.proto, parseAddr6(f.lan), f.lanPort, parseAddr6(f.remote), f.remotePort, state) < 0)
      throw new Error(`could not place flow ${JSON.stringify(f)}`);
  }
}

export function addFlows(s: CoreSetup, flows: FlowSpec[]): void {
  for (const f of flows) {
    const i = f.fixed
      ? s.table.createFixedFlow(
          f.proto,
          parseAddr(f.lan),
          f.lanPort,
          parseAddr(f.remote),
          f.remotePort,
          parseAddr(f.wan),
          f.wanPort,
          L.TS_ESTABLISHED,
        )
      : s.table.createFlow(
          f.proto,
          parseAddr(f.lan),
          f.lanPort,
          parseAddr(f.remote),
          f.remotePort,
          parseAddr(f.wan),
          L.TS_ESTABLISHED,
          { wantPort: f.wanPort },
        );
    if (i < 0 || s.table.flow(i).wanPort !== f.wanPort) throw new Error(`could not place flow ${JSON.stringify(f)}`);
  }
}

export function setMssClamp(s: CoreSetup, mss: number): void {
  new DataView(s.memory.buffer).setUint32(s.map.tableBase + L.T_MSS_CLAMP, mss, true);
}

// The side a test packet comes in on, as the gateway's TUN devices tell it: from inside when its
// source is a LAN address (192.168/16, or IPv6 2001:db8:1::/48), else from the WAN. `ip` is the
// packet's IP header.
export function ingressOf(u8: Uint8Array, ip: number): number {
  if (u8[ip] >> 4 === 6)
    return u8[ip + 8] === 0x20 &&
      u8[ip + 9] === 0x01 &&
      u8[ip + 10] === 0x0d &&
      u8[ip + 11] === 0xb8 &&
      u8[ip + 12] === 0 &&
      u8[ip + 13] === 1
      ? L.IN_INSIDE
      : L.IN_WAN;
  return u8[ip + 12] === 192 && u8[ip + 13] === 168 ? L.IN_INSIDE : L.IN_WAN;
}
