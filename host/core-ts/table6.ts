// Lock-free lookups in the IPv6 flow table: the TypeScript twin of assembly/table6.ts.
import * as L from "../../assembly/layout";
import { mem, le16, le32 } from "./memory";

let entries = 0,
  slot0 = 0,
  slots = 0,
  seed = 0;
let index32 = new Int32Array(0) as Int32Array<ArrayBufferLike>;

export function setTable6(base: number): void {
  index32 = new Int32Array(mem.u8.buffer);
  entries = le32(base + L.T6_ENTRIES);
  slot0 = le32(base + L.T6_INDEX) >>> 2;
  slots = le32(base + L.T6_INDEX_SLOTS);
  seed = le32(base + L.T_SEED) | 0;
}

const mix = (h: number, w: number, k: number): number => {
  h = Math.imul(h ^ w, k) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
};

// The same 32 bits as the WASM core's hash6, from the same bytes.
export function hash6(
  proto: number,
  lan: number,
  lanPort: number,
  remote: number,
  remotePort: number,
  seed: number,
): number {
  let h = ((L.H_FLOW6 + proto) ^ seed) >>> 0;
  h = mix(h, le32(lan), 0x85ebca6b);
  h = mix(h, le32(lan + 4), 0xc2b2ae35);
  h = mix(h, le32(lan + 8), 0x85ebca6b);
  h = mix(h, le32(lan + 12), 0xc2b2ae35);
  h = mix(h, le32(remote), 0x85ebca6b);
  h = mix(h, le32(remote + 4), 0xc2b2ae35);
  h = mix(h, le32(remote + 8), 0x85ebca6b);
  h = mix(h, le32(remote + 12), 0xc2b2ae35);
  h = mix(h, ((lanPort << 16) | remotePort) >>> 0, 0x85ebca6b);
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const same16 = (a: number, b: number): boolean =>
  le32(a) === le32(b) && le32(a + 4) === le32(b + 4) && le32(a + 8) === le32(b + 8) && le32(a + 12) === le32(b + 12);

// Where a key's probe starts (as table.ts's homeSlot, kept here so the two tables stay apart).
const homeSlot = (h: number, slots: number): number => Math.floor(((h >>> 2) * slots) / 1073741824);

export const entry6Address = (i: number): number => entries + i * L.F6_SIZE;

export function lookup6(proto: number, lan: number, lanPort: number, remote: number, remotePort: number): number {
  if (slots === 0) return -1;
  let i = homeSlot(hash6(proto, lan, lanPort, remote, remotePort, seed >>> 0), slots);
  for (let n = 0; n < slots; n++) {
    const slot = Atomics.load(index32, slot0 + i);
    if (slot === L.IDX_EMPTY) return -1;
    if (slot !== L.IDX_TOMBSTONE) {
      const e = entry6Address(slot - 1);
      if (
        le16(e + L.F6_LAN_PORT) === lanPort &&
        le16(e + L.F6_REMOTE_PORT) === remotePort &&
        mem.u8[e + L.F6_PROTO] === proto &&
        same16(e + L.F6_LAN_ADDR, lan) &&
        same16(e + L.F6_REMOTE_ADDR, remote)
      )
        return slot - 1;
    }
    i = i + 1 === slots ? 0 : i + 1;
  }
  return -1;
}
