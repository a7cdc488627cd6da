// The IPv6 LAN endpoints that have flows, and how many: what endpoint-independent filtering asks
// ("has this LAN address:port a flow to anyone?"), and, under NAT66, the public port the endpoint
// is mapped to (endpoint-independent mapping: one for all its flows). Open-addressed slots of
// layout.ts's EP6_*, keyed by (protocol, address, port); a slot is deleted when its last flow
// ends. Only the host writes and reads it, under the table's lock (flows6.ts).
import * as L from "../../assembly/layout";
import { homeSlot } from "../core-ts/home-slot";
import { hash6 } from "../core-ts/table6";

const NO_REMOTE = new Uint8Array(16);

export class Endpoints6 {
  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
    private readonly base: number,
    private readonly slots: number,
    private readonly seed: () => number,
  ) {}

  private at(i: number): number {
    return this.base + i * L.EP6_SIZE;
  }

  private is(i: number, proto: number, lan: Uint8Array, lanPort: number): boolean {
    const e = this.at(i);
    if (this.u8[e + L.EP6_PROTO] !== proto || this.dv.getUint16(e + L.EP6_LAN_PORT, true) !== lanPort) return false;
    for (let k = 0; k < 16; k++) if (this.u8[e + L.EP6_LAN_ADDR + k] !== lan[k]) return false;
    return true;
  }

  private home(proto: number, lan: Uint8Array, lanPort: number): number {
    return homeSlot(hash6(L.H6_ENDPOINT + proto, lan, 0, lanPort, NO_REMOTE, 0, 0, this.seed()), this.slots);
  }

  // The endpoint's slot, or -1; `free` gets the first reusable slot on the way (for add).
  private find(proto: number, lan: Uint8Array, lanPort: number, free?: { slot: number }): number {
    let i = this.home(proto, lan, lanPort);
    for (let n = 0; n < this.slots; n++) {
      const p = this.u8[this.at(i) + L.EP6_PROTO];
      if (p === 0) {
        if (free && free.slot < 0) free.slot = i;
        return -1;
      }
      if (p === L.EP6_TOMBSTONE) {
        if (free && free.slot < 0) free.slot = i;
      } else if (this.is(i, proto, lan, lanPort)) return i;
      i = i + 1 === this.slots ? 0 : i + 1;
    }
    return -1;
  }

  has(proto: number, lan: Uint8Array, lanPort: number): boolean {
    return this.find(proto, lan, lanPort) >= 0;
  }

  // The endpoint's public port under NAT66, or 0 (none, or no flow).
  wanPort(proto: number, lan: Uint8Array, lanPort: number): number {
    const i = this.find(proto, lan, lanPort);
    return i < 0 ? 0 : this.wanPortAt(i);
  }
  wanPortAt(slot: number): number {
    return this.dv.getUint16(this.at(slot) + L.EP6_WAN_PORT, true);
  }
  setWanPortAt(slot: number, port: number): void {
    this.dv.setUint16(this.at(slot) + L.EP6_WAN_PORT, port, true);
  }
  // The LAN end of a live slot.
  endAt(slot: number): { lan: Uint8Array; lanPort: number } {
    const e = this.at(slot);
    return {
      lan: this.u8.slice(e + L.EP6_LAN_ADDR, e + L.EP6_LAN_ADDR + 16),
      lanPort: this.dv.getUint16(e + L.EP6_LAN_PORT, true),
    };
  }

  // One more flow of the endpoint; its slot. There are as many slots as the index has (1.4 per
  // flow), so a slot is always there for a flow the table took.
  add(proto: number, lan: Uint8Array, lanPort: number): number {
    const free = { slot: -1 };
    let i = this.find(proto, lan, lanPort, free);
    if (i < 0) {
      i = free.slot;
      const e = this.at(i);
      this.u8.set(lan, e + L.EP6_LAN_ADDR);
      this.dv.setUint16(e + L.EP6_LAN_PORT, lanPort, true);
      this.u8[e + L.EP6_PROTO] = proto;
      this.dv.setUint32(e + L.EP6_FLOWS, 0, true);
      this.dv.setUint16(e + L.EP6_WAN_PORT, 0, true);
    }
    const e = this.at(i);
    this.dv.setUint32(e + L.EP6_FLOWS, this.dv.getUint32(e + L.EP6_FLOWS, true) + 1, true);
    return i;
  }

  // One flow of the endpoint fewer; its slot goes with its last. Returns the public port the
  // endpoint let go of with it (0: none, or it still has flows).
  release(proto: number, lan: Uint8Array, lanPort: number): number {
    const i = this.find(proto, lan, lanPort);
    if (i < 0) return 0;
    const e = this.at(i);
    const flows = this.dv.getUint32(e + L.EP6_FLOWS, true) - 1;
    this.dv.setUint32(e + L.EP6_FLOWS, flows, true);
    if (flows > 0) return 0;
    const wanPort = this.dv.getUint16(e + L.EP6_WAN_PORT, true);
    this.u8[e + L.EP6_PROTO] = L.EP6_TOMBSTONE;
    // a tombstone before an empty slot ends no probe chain: empty it, and those before it
    if (this.u8[this.at(i + 1 === this.slots ? 0 : i + 1) + L.EP6_PROTO] === 0)
      for (let j = i; this.u8[this.at(j) + L.EP6_PROTO] === L.EP6_TOMBSTONE; j = j === 0 ? this.slots - 1 : j - 1)
        this.u8[this.at(j) + L.EP6_PROTO] = 0;
    return wanPort;
  }
}
