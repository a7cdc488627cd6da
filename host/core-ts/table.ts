// Lock-free lookups in the shared connection table: the TypeScript twin of assembly/table.ts.
import { mem, le32 } from "./memory";
import * as L from "../../assembly/layout";
import { setTable6 } from "./table6";
import { setNpt6 } from "./npt6";
import { setNat66 } from "./nat66";
import { homeSlot } from "./home-slot";

let table = 0;
let index32 = new Int32Array(0) as Int32Array<ArrayBufferLike>;
// The header's layout fields never change after the host made the table: read them once.
let entries = 0,
  lanSlot0 = 0,
  wanSlot0 = 0,
  slots = 0,
  seed = 0;

export function setTable(base: number): void {
  table = base;
  index32 = new Int32Array(mem.u8.buffer);
  entries = le32(base + L.T_ENTRIES);
  lanSlot0 = le32(base + L.T_LAN_INDEX) >>> 2;
  wanSlot0 = le32(base + L.T_WAN_INDEX) >>> 2;
  slots = le32(base + L.T_INDEX_SLOTS);
  seed = le32(base + L.T_SEED) | 0; // int32, unboxed (memory.ts)
  setTable6(base);
  setNpt6(base);
  setNat66(base);
}
export const tableBase = (): number => table;

export function hash5(
  domain: number,
  proto: number,
  a1: number,
  p1: number,
  a2: number,
  p2: number,
  seed: number,
): number {
  let h = ((domain + proto) ^ seed) >>> 0;
  h = Math.imul(h ^ a1, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h ^ a2, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h ^ ((p1 << 16) | p2), 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

export { homeSlot };

export const entryAddress = (i: number): number => entries + i * L.E_SIZE;

function probe(
  domain: number,
  slot0: number,
  proto: number,
  a1: number,
  p1: number,
  a2: number,
  p2: number,
  aAt1: number,
  pAt1: number,
  aAt2: number,
  pAt2: number,
): number {
  const dv = mem.dv,
    u8 = mem.u8;
  a1 |= 0;
  a2 |= 0; // addresses as int32, as the core holds them (memory.ts)
  let i = homeSlot(hash5(domain, proto, a1, p1, a2, p2, seed), slots);
  for (let n = 0; n < slots; n++) {
    const slot = Atomics.load(index32, slot0 + i);
    if (slot === L.IDX_EMPTY) return -1;
    if (slot !== L.IDX_TOMBSTONE) {
      const e = entryAddress(slot - 1);
      if (
        dv.getInt32(e + aAt1, true) === a1 &&
        dv.getInt32(e + aAt2, true) === a2 &&
        dv.getUint16(e + pAt1, true) === p1 &&
        dv.getUint16(e + pAt2, true) === p2 &&
        u8[e + L.E_PROTO] === proto
      )
        return slot - 1;
    }
    i = i + 1 === slots ? 0 : i + 1;
  }
  return -1;
}

export function lookupLan(
  proto: number,
  lanAddr: number,
  lanPort: number,
  remoteAddr: number,
  remotePort: number,
): number {
  return probe(
    L.H_LAN,
    lanSlot0,
    proto,
    lanAddr,
    lanPort,
    remoteAddr,
    remotePort,
    L.E_LAN_ADDR,
    L.E_LAN_PORT,
    L.E_REMOTE_ADDR,
    L.E_REMOTE_PORT,
  );
}

export function lookupWan(
  proto: number,
  remoteAddr: number,
  remotePort: number,
  wanAddr: number,
  wanPort: number,
): number {
  return probe(
    L.H_WAN,
    wanSlot0,
    proto,
    remoteAddr,
    remotePort,
    wanAddr,
    wanPort,
    L.E_REMOTE_ADDR,
    L.E_REMOTE_PORT,
    L.E_WAN_ADDR,
    L.E_WAN_PORT,
  );
}
