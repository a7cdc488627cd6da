// IPv6 pinholes: inbound openings a LAN host asked for with PCP (RFC 6887 MAP with an IPv6
// internal address). IPv6 is routed, so a pinhole translates nothing: it lets the WAN in to the
// host's own address:port until its lifetime ends. Under NAT66 it also holds the host's public
// port (flows6.ts holdMapping), which its owner lets go when it closes. The records sit in shared memory (layout.ts
// PH6_*): the main thread's PCP server writes them, the workers' slow path reads them, both under
// the table's lock, on its clock.
import * as L from "../../assembly/layout";
import { formatAddr6 } from "../net/addr6";
import type { TableShared } from "./flows6";

export interface Pinhole6 {
  proto: number;
  addr: string; // RFC 5952 text
  port: number;
  expires: number; // T_NOW seconds
  wanPort: number; // under NAT66, the public port it holds; 0: none
}

export class Pinholes6 {
  constructor(
    private readonly table: TableShared,
    private readonly base: number,
  ) {}

  private at(k: number): number {
    return this.base + k * L.PH6_SIZE;
  }

  private is(k: number, proto: number, addr: Uint8Array, port: number): boolean {
    const e = this.at(k),
      u8 = this.table.u8;
    if (u8[e + L.PH6_PROTO] !== proto || this.table.dv.getUint16(e + L.PH6_PORT, true) !== port) return false;
    for (let i = 0; i < 16; i++) if (u8[e + L.PH6_ADDR + i] !== addr[i]) return false;
    return true;
  }

  private find(proto: number, addr: Uint8Array, port: number): number {
    for (let k = 0; k < L.PINHOLES6; k++) if (this.is(k, proto, addr, port)) return k;
    return -1;
  }

  // The live one of addr:port, or undefined.
  get(proto: number, addr: Uint8Array, port: number): Pinhole6 | undefined {
    return this.table.locked(() => {
      const k = this.find(proto, addr, port);
      return k < 0 ? undefined : this.record(k);
    });
  }

  // Opens (or renews) the pinhole for `lifetime` seconds, holding public port `wanPort` under
  // NAT66; 0 closes it. False when all are taken.
  open(proto: number, addr: Uint8Array, port: number, lifetime: number, wanPort = 0): boolean {
    return this.table.locked(() => {
      let k = this.find(proto, addr, port);
      if (lifetime === 0) {
        if (k >= 0) this.table.u8[this.at(k) + L.PH6_PROTO] = 0;
        return true;
      }
      if (k < 0) k = this.freeSlot();
      if (k < 0) return false;
      const e = this.at(k);
      this.table.u8.set(addr, e + L.PH6_ADDR);
      this.table.dv.setUint16(e + L.PH6_PORT, port, true);
      this.table.dv.setUint32(e + L.PH6_EXPIRES, this.table.now + lifetime, true);
      this.table.dv.setUint16(e + L.PH6_WAN_PORT, wanPort, true);
      this.table.u8[e + L.PH6_PROTO] = proto;
      return true;
    });
  }

  // A free slot, or one past its lifetime that holds nothing (one that holds a public port waits
  // for expire, whose caller lets the port go).
  private freeSlot(): number {
    const now = this.table.now;
    for (let k = 0; k < L.PINHOLES6; k++) {
      const e = this.at(k);
      if (this.table.u8[e + L.PH6_PROTO] === 0) return k;
      if (this.table.dv.getUint32(e + L.PH6_EXPIRES, true) <= now && !this.table.dv.getUint16(e + L.PH6_WAN_PORT, true))
        return k;
    }
    return -1;
  }

  // Is addr:port open to the WAN now? (The slow path asks for a packet from the WAN.)
  has(proto: number, addr: Uint8Array, port: number): boolean {
    return this.table.locked(() => {
      const k = this.find(proto, addr, port);
      return k >= 0 && this.table.dv.getUint32(this.at(k) + L.PH6_EXPIRES, true) > this.table.now;
    });
  }

  list(): Pinhole6[] {
    const out: Pinhole6[] = [];
    for (let k = 0; k < L.PINHOLES6; k++) if (this.table.u8[this.at(k) + L.PH6_PROTO] !== 0) out.push(this.record(k));
    return out;
  }

  private record(k: number): Pinhole6 {
    const e = this.at(k);
    return {
      proto: this.table.u8[e + L.PH6_PROTO],
      addr: formatAddr6(this.table.u8.subarray(e + L.PH6_ADDR, e + L.PH6_ADDR + 16)),
      port: this.table.dv.getUint16(e + L.PH6_PORT, true),
      expires: this.table.dv.getUint32(e + L.PH6_EXPIRES, true),
      wanPort: this.table.dv.getUint16(e + L.PH6_WAN_PORT, true),
    };
  }

  // Closes those past their lifetime, in one pass under the lock (one renewed meanwhile is not
  // among them); returns them.
  expire(): Pinhole6[] {
    const now = this.table.now;
    return this.table.locked(() => {
      const gone: Pinhole6[] = [];
      for (let k = 0; k < L.PINHOLES6; k++) {
        const e = this.at(k);
        if (this.table.u8[e + L.PH6_PROTO] === 0 || this.table.dv.getUint32(e + L.PH6_EXPIRES, true) > now) continue;
        gone.push(this.record(k));
        this.table.u8[e + L.PH6_PROTO] = 0;
      }
      return gone;
    });
  }
}
