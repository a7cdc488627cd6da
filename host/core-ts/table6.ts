// Lock-free lookups in the IPv6 flow table: the TypeScript twin of assembly/table6.ts.
import * as L from "../../assembly/layout";
import { mem, le16, le32 } from "./memory";
import { homeSlot } from "./home-slot";

let entries = 0,
  slot0 = 0,
  wanSlot0 = 0,
  slots = 0,
  seed = 0;
let index32 = new Int32Array(0) as Int32Array<ArrayBufferLike>;

export function setTable6(base: number): void {
  index32 = new Int32Array(mem.u8.buffer);
  entries = le32(base + L.T6_ENTRIES);
  slot0 = le32(base + L.T6_INDEX) >>> 2;
  wanSlot0 = le32(base + L.T6_WAN_INDEX) >>> 2;
  slots = le32(base + L.T6_INDEX_SLOTS);
  seed = le32(base + L.T_SEED) | 0;
}

const mix = (h: number, w: number, k: number): number => {
  h = Math.imul(h ^ w, k) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
};
const word = (b: Uint8Array, at: number): number =>
  (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

// The same 32 bits as the WASM core's hash6, from the same bytes: the addresses' eight words as
// they lie in memory (little-endian), `lan` and `remote` bytes at `lanAt` and `remoteAt`. The
// host's writer (host/table/flows6.ts) hashes with it too.
export function hash6(
  proto: number,
  lan: Uint8Array,
  lanAt: number,
  lanPort: number,
  remote: Uint8Array,
  remoteAt: number,
  remotePort: number,
  seed: number,
): number {
  let h = ((L.H_FLOW6 + proto) ^ seed) >>> 0;
  h = mix(h, word(lan, lanAt), 0x85ebca6b);
  h = mix(h, word(lan, lanAt + 4), 0xc2b2ae35);
  h = mix(h, word(lan, lanAt + 8), 0x85ebca6b);
  h = mix(h, word(lan, lanAt + 12), 0xc2b2ae35);
  h = mix(h, word(remote, remoteAt), 0x85ebca6b);
  h = mix(h, word(remote, remoteAt + 4), 0xc2b2ae35);
  h = mix(h, word(remote, remoteAt + 8), 0x85ebca6b);
  h = mix(h, word(remote, remoteAt + 12), 0xc2b2ae35);
  h = mix(h, ((lanPort << 16) | remotePort) >>> 0, 0x85ebca6b);
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// NAT66's key (assembly/table6.ts hashWan6): the public port and the far end.
export function hashWan6(
  proto: number,
  wanPort: number,
  remote: Uint8Array,
  remoteAt: number,
  remotePort: number,
  seed: number,
): number {
  let h = ((L.H_FLOW6 + L.H6_WAN + proto) ^ seed) >>> 0;
  h = mix(h, word(remote, remoteAt), 0x85ebca6b);
  h = mix(h, word(remote, remoteAt + 4), 0xc2b2ae35);
  h = mix(h, word(remote, remoteAt + 8), 0x85ebca6b);
  h = mix(h, word(remote, remoteAt + 12), 0xc2b2ae35);
  h = mix(h, ((wanPort << 16) | remotePort) >>> 0, 0x85ebca6b);
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const same16 = (a: number, b: number): boolean =>
  le32(a) === le32(b) && le32(a + 4) === le32(b + 4) && le32(a + 8) === le32(b + 8) && le32(a + 12) === le32(b + 12);

export const entry6Address = (i: number): number => entries + i * L.F6_SIZE;

export function lookup6(proto: number, lan: number, lanPort: number, remote: number, remotePort: number): number {
  if (slots === 0) return -1;
  let i = homeSlot(hash6(proto, mem.u8, lan, lanPort, mem.u8, remote, remotePort, seed >>> 0), slots);
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

export function lookupWan6(proto: number, wanPort: number, remote: number, remotePort: number): number {
  if (slots === 0 || wanSlot0 === 0) return -1;
  let i = homeSlot(hashWan6(proto, wanPort, mem.u8, remote, remotePort, seed >>> 0), slots);
  for (let n = 0; n < slots; n++) {
    const slot = Atomics.load(index32, wanSlot0 + i);
    if (slot === L.IDX_EMPTY) return -1;
    if (slot !== L.IDX_TOMBSTONE) {
      const e = entry6Address(slot - 1);
      if (
        le16(e + L.F6_WAN_PORT) === wanPort &&
        le16(e + L.F6_REMOTE_PORT) === remotePort &&
        mem.u8[e + L.F6_PROTO] === proto &&
        same16(e + L.F6_REMOTE_ADDR, remote)
      )
        return slot - 1;
    }
    i = i + 1 === slots ? 0 : i + 1;
  }
  return -1;
}
