// Shared state of the application helper (FTP), beside the connection table, because the two
// directions of a control connection may be served by different workers:
//  - sequence offsets: where a rewrite changed the length of the LAN side's byte stream, so that
//    later sequence numbers (outbound) and acknowledgements (inbound) are shifted to match;
//  - expectations: a data connection announced on a control connection, let in once from the
//    announced peer even where filtering would refuse it; and pinholes (NAT-PMP / PCP mappings),
//    open to any peer until they expire. Each holds its mapping.
// Every change happens under the table's writer lock.
import type { ConnTable } from "./conntrack";
import { SeqRecords, type SeqOffset } from "./seq-records";
import {
  ALG_SEQ_RECORDS as SEQ_RECORDS,
  ALG_SEQ_SIZE as SEQ_SIZE,
  ALG_EXPECTATIONS as EXPECTATIONS,
  ALG_EXP_SIZE as EXP_SIZE,
} from "../shm/memory-map";

export const EXPECT_SECONDS = 60;

// An expectation (EXP_SIZE bytes):
const EXP_PROTO = 0; // u32 @proto: 6 or 17 (0: free slot)
const EXP_PORT = 4; // u32 @port: the public port it holds
const EXP_REMOTE = 8; // u32 @remote: who may connect (0: anyone, a pinhole)
const EXP_DEADLINE = 12; // u32 @deadline: T_NOW after which it ends
const EXP_KIND = 16; // u32 @kind: EXP_ONCE or EXP_PINHOLE
const EXP_BY = 20; // u8 @by: who made a pinhole, 1 + its index in MAPPERS (0: not known, or an expectation)
const EXP_DESCRIPTION_LEN = 21; // u8 @description length in bytes
const EXP_DESCRIPTION = 24; // @description: what a UPnP client called the mapping, UTF-8
const DESCRIPTION_MAX = 64; // bytes kept (ALG_EXP_SIZE - EXP_DESCRIPTION)
export const EXP_ONCE = 0; // an expected connection: taken by the first one
export const EXP_PINHOLE = 1; // a mapping requested by a LAN host: open until its deadline

// Who may make a pinhole: NAT-PMP, PCP and UPnP clients (host/portmap/).
export const MAPPERS = ["nat-pmp", "pcp", "upnp"] as const;
export type MappedBy = (typeof MAPPERS)[number];

// Who made a pinhole, kept in its record (so a restart or a listing knows without a side table).
export interface Origin {
  by: MappedBy | "";
  description?: string;
}
export interface Pinhole {
  slot: number;
  proto: number;
  port: number;
  lanAddr: number;
  lanPort: number;
  expiresIn: number;
  by: MappedBy | "";
  description: string;
}

export class AlgState {
  private readonly dv: DataView;
  private readonly exp: number;
  private readonly seq: SeqRecords;
  constructor(
    private readonly table: ConnTable,
    base: number,
  ) {
    this.dv = table.dv;
    this.exp = base + SEQ_RECORDS * SEQ_SIZE;
    this.seq = new SeqRecords(this.dv, base);
  }

  // A control connection's shift (seq-records.ts), by its entry.
  offset(entry: number): SeqOffset {
    return this.seq.offset(entry);
  }

  // The LAN side's bytes from `seq` (original space) on are `growth` longer than before.
  shift(entry: number, seq: number, growth: number): void {
    this.table.locked(() => this.seq.shift(entry, seq, growth));
  }

  // Sets a control connection's shift as its peer gateway had it (HA table sync).
  setOffset(entry: number, o: SeqOffset): void {
    this.table.locked(() => this.seq.set(entry, o));
  }

  // Expects a connection from `remote` to public `port`, whose mapping it holds.
  expect(proto: number, lanAddr: number, lanPort: number, remote: number, want: number): number {
    return this.open(proto, lanAddr, lanPort, remote, want, EXPECT_SECONDS, EXP_ONCE);
  }

  // Opens (or renews, or with lifetime 0 closes) a pinhole for lanAddr:lanPort; returns the public
  // port, or -1 when none could be had (0 for a close). A renewal takes the origin given (its
  // description only where one is given: PCP and NAT-PMP have none).
  // `anywhere`: `want` may be outside the NAT port range (an external port asked for by UPnP).
  pinhole(
    proto: number,
    lanAddr: number,
    lanPort: number,
    want: number,
    lifetime: number,
    anywhere = false,
    origin?: Origin,
  ): number {
    const existing = this.pinholeOf(proto, lanAddr, lanPort);
    if (existing) {
      this.table.locked(() => {
        const at = this.exp + existing.slot * EXP_SIZE;
        if (lifetime === 0) this.endLocked(at);
        else {
          this.dv.setUint32(at + EXP_DEADLINE, this.table.now + lifetime, true);
          if (origin) this.writeOrigin(at, origin);
        }
      });
      return lifetime === 0 ? 0 : existing.port;
    }
    if (lifetime === 0) return 0;
    return this.open(proto, lanAddr, lanPort, 0, want, lifetime, EXP_PINHOLE, anywhere, origin);
  }

  // The pinhole of lanAddr:lanPort, if it has one.
  pinholeOf(proto: number, lanAddr: number, lanPort: number): Pinhole | undefined {
    return this.pinholes().find((p) => p.proto === proto && p.lanAddr === lanAddr && p.lanPort === lanPort);
  }

  private writeOrigin(at: number, o: Origin): void {
    this.dv.setUint8(at + EXP_BY, o.by ? MAPPERS.indexOf(o.by) + 1 : 0);
    if (o.description === undefined) return;
    const bytes = Buffer.from(o.description, "utf8");
    let n = Math.min(bytes.length, DESCRIPTION_MAX);
    while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--; // cut between characters
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + at + EXP_DESCRIPTION, n).set(bytes.subarray(0, n));
    this.dv.setUint8(at + EXP_DESCRIPTION_LEN, n);
  }

  private readOrigin(at: number): { by: MappedBy | ""; description: string } {
    const by = MAPPERS[this.dv.getUint8(at + EXP_BY) - 1] ?? "";
    const n = this.dv.getUint8(at + EXP_DESCRIPTION_LEN);
    return {
      by,
      description: Buffer.from(this.dv.buffer, this.dv.byteOffset + at + EXP_DESCRIPTION, n).toString("utf8"),
    };
  }

  pinholes(): Pinhole[] {
    const out = [];
    for (let k = 0; k < EXPECTATIONS; k++) {
      const at = this.exp + k * EXP_SIZE;
      const proto = this.dv.getUint32(at + EXP_PROTO, true);
      if (proto === 0 || this.dv.getUint32(at + EXP_KIND, true) !== EXP_PINHOLE) continue;
      const port = this.dv.getUint32(at + EXP_PORT, true);
      const owner = this.table.mappingOwner(proto, port);
      if (!owner) continue;
      out.push({
        slot: k,
        proto,
        port,
        lanAddr: owner.addr,
        lanPort: owner.port,
        expiresIn: Math.max(0, this.dv.getUint32(at + EXP_DEADLINE, true) - this.table.now),
        ...this.readOrigin(at),
      });
    }
    return out;
  }

  // The expected data connections (not the pinholes), with the LAN endpoint that holds each.
  expectations(): Array<{
    proto: number;
    port: number;
    remote: number;
    lanAddr: number;
    lanPort: number;
    expiresIn: number;
  }> {
    const out = [];
    for (let k = 0; k < EXPECTATIONS; k++) {
      const at = this.exp + k * EXP_SIZE;
      const proto = this.dv.getUint32(at + EXP_PROTO, true);
      if (proto === 0 || this.dv.getUint32(at + EXP_KIND, true) !== EXP_ONCE) continue;
      const port = this.dv.getUint32(at + EXP_PORT, true);
      const owner = this.table.mappingOwner(proto, port);
      if (!owner) continue;
      out.push({
        proto,
        port,
        remote: this.dv.getUint32(at + EXP_REMOTE, true),
        lanAddr: owner.addr,
        lanPort: owner.port,
        expiresIn: Math.max(0, this.dv.getUint32(at + EXP_DEADLINE, true) - this.table.now),
      });
    }
    return out;
  }

  private open(
    proto: number,
    lanAddr: number,
    lanPort: number,
    remote: number,
    want: number,
    seconds: number,
    kind: number,
    anywhere = false,
    origin: Origin = { by: "", description: "" },
  ): number {
    return this.table.locked(() => {
      this.expireLocked();
      let slot = -1;
      for (let k = 0; k < EXPECTATIONS && slot < 0; k++)
        if (this.dv.getUint32(this.exp + k * EXP_SIZE + EXP_PROTO, true) === 0) slot = k;
      if (slot < 0) return -1;
      const port = this.table.holdMappingLocked(proto, lanAddr, lanPort, want, anywhere);
      if (port < 0) return -1;
      const at = this.exp + slot * EXP_SIZE;
      this.dv.setUint32(at + EXP_PROTO, proto, true);
      this.dv.setUint32(at + EXP_PORT, port, true);
      this.dv.setUint32(at + EXP_REMOTE, remote, true);
      this.dv.setUint32(at + EXP_DEADLINE, this.table.now + seconds, true);
      this.dv.setUint32(at + EXP_KIND, kind, true);
      this.writeOrigin(at, { by: origin.by, description: origin.description ?? "" });
      return port;
    });
  }

  // Is a connection from `remote` to public `port` expected, or is a pinhole open there?
  expected(proto: number, port: number, remote: number): boolean {
    const now = this.table.now;
    for (let k = 0; k < EXPECTATIONS; k++) {
      const at = this.exp + k * EXP_SIZE;
      if (this.dv.getUint32(at + EXP_PROTO, true) !== proto || this.dv.getUint32(at + EXP_PORT, true) !== port)
        continue;
      if (this.dv.getUint32(at + EXP_DEADLINE, true) < now) continue;
      const r = this.dv.getUint32(at + EXP_REMOTE, true);
      if (r === remote || (r === 0 && this.dv.getUint32(at + EXP_KIND, true) === EXP_PINHOLE)) return true;
    }
    return false;
  }

  // Takes (and ends) the expectation for `remote` to public `port`, if there is one.
  take(proto: number, port: number, remote: number): boolean {
    return this.table.locked(() => {
      for (let k = 0; k < EXPECTATIONS; k++) {
        const at = this.exp + k * EXP_SIZE;
        if (
          this.dv.getUint32(at + EXP_PROTO, true) === proto &&
          this.dv.getUint32(at + EXP_PORT, true) === port &&
          this.dv.getUint32(at + EXP_REMOTE, true) === remote &&
          this.dv.getUint32(at + EXP_KIND, true) === EXP_ONCE
        ) {
          this.endLocked(at);
          return true;
        }
      }
      return false;
    });
  }

  // The expectation's hold on the mapping ends; a flow made from it holds its own.
  private endLocked(at: number): void {
    this.table.releaseMappingLocked(this.dv.getUint32(at + EXP_PROTO, true), this.dv.getUint32(at + EXP_PORT, true));
    this.dv.setUint32(at + EXP_PROTO, 0, true);
  }

  expireLocked(): void {
    const now = this.table.now;
    for (let k = 0; k < EXPECTATIONS; k++) {
      const at = this.exp + k * EXP_SIZE;
      if (this.dv.getUint32(at + EXP_PROTO, true) !== 0 && this.dv.getUint32(at + EXP_DEADLINE, true) < now)
        this.endLocked(at);
    }
  }

  expire(): void {
    this.table.locked(() => this.expireLocked());
  }
}
