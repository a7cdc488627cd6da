// The FTP helpers' sequence records (alg-state.ts uses them): where a rewrite changed the length
// of a control connection's LAN-side byte stream, the shift of later sequence numbers. A record
// is keyed by the connection's entry (IPv4: its index; IPv6: SEQ_KEY6 + its index) and lives as
// long as the connection: the tables let it go when an ES_ALG flow ends (else a later connection
// given the same entry would inherit its shift, and the records would fill up for good).
// Records are few (one per FTP control connection whose stream changed length): a lookup walks
// them all, so a freed one leaves no hole in anyone's probe chain. Callers hold the table's lock
// for a change.
import { ALG_SEQ_RECORDS as SEQ_RECORDS, ALG_SEQ_SIZE as SEQ_SIZE } from "../shm/memory-map";

export const SEQ_KEY6 = 1 << 30; // IPv6 entries' keys, apart from IPv4's indexes

const SEQ_ENTRY = 0; // i32 @key: the control connection's key + 1 (0: free)
const SEQ_BOUNDARY = 4; // u32 @boundary: first sequence number (original space) after the last rewrite
const SEQ_BEFORE = 8; // i32 @before: shift of sequence numbers before the boundary
const SEQ_AFTER = 12; // i32 @after: shift from the boundary on

export interface SeqOffset {
  boundary: number;
  before: number;
  after: number;
}

// a >= b in sequence space (RFC 1982)
const seqGE = (a: number, b: number): boolean => ((a - b) | 0) >= 0;

// An outbound (LAN side's) segment's sequence number, moved into the shifted space.
export const shiftedSeq = (seq: number, o: SeqOffset): number =>
  (seq + (seqGE(seq, o.boundary) ? o.after : o.before)) >>> 0;

// An inbound segment's acknowledgement, moved back into the LAN side's original space.
export const originalAck = (ack: number, o: SeqOffset): number =>
  (ack - (seqGE(ack, (o.boundary + o.after) >>> 0) ? o.after : o.before)) >>> 0;

// Is a rewrite that makes the stream `growth` longer from `end` on already recorded (the same
// segment sent again)?
export const alreadyShifted = (o: SeqOffset, end: number, growth: number): boolean =>
  o.boundary === end && o.after - o.before === growth;

export class SeqRecords {
  constructor(
    private readonly dv: DataView,
    private readonly base: number, // the helper area's start (memory-map.ts alg)
  ) {}

  private find(key: number): number {
    for (let k = 0; k < SEQ_RECORDS; k++)
      if (this.dv.getInt32(this.base + k * SEQ_SIZE + SEQ_ENTRY, true) === key + 1) return this.base + k * SEQ_SIZE;
    return -1;
  }

  private findOrFree(key: number): number {
    const at = this.find(key);
    if (at >= 0) return at;
    for (let k = 0; k < SEQ_RECORDS; k++)
      if (this.dv.getInt32(this.base + k * SEQ_SIZE + SEQ_ENTRY, true) === 0) return this.base + k * SEQ_SIZE;
    return -1;
  }

  offset(key: number): SeqOffset {
    const at = this.find(key);
    if (at < 0) return { boundary: 0, before: 0, after: 0 };
    return {
      boundary: this.dv.getUint32(at + SEQ_BOUNDARY, true),
      before: this.dv.getInt32(at + SEQ_BEFORE, true),
      after: this.dv.getInt32(at + SEQ_AFTER, true),
    };
  }

  // The LAN side's bytes from `seq` (original space) on are `growth` longer than before.
  shift(key: number, seq: number, growth: number): void {
    const after = this.offset(key).after;
    this.set(key, { boundary: seq, before: after, after: after + growth });
  }

  set(key: number, o: SeqOffset): void {
    const at = this.findOrFree(key);
    if (at < 0) return; // every record taken: this connection is not shifted
    this.dv.setInt32(at + SEQ_ENTRY, key + 1, true);
    this.dv.setUint32(at + SEQ_BOUNDARY, o.boundary >>> 0, true);
    this.dv.setInt32(at + SEQ_BEFORE, o.before, true);
    this.dv.setInt32(at + SEQ_AFTER, o.after, true);
  }

  forget(key: number): void {
    const at = this.find(key);
    if (at >= 0) this.dv.setInt32(at + SEQ_ENTRY, 0, true);
  }

  // How many are in use (for tests and status).
  used(): number {
    let n = 0;
    for (let k = 0; k < SEQ_RECORDS; k++) if (this.dv.getInt32(this.base + k * SEQ_SIZE + SEQ_ENTRY, true) !== 0) n++;
    return n;
  }
}
