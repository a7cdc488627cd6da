// Table sync between the two gateways of an HA pair (docs/ha.md), like pfsync or conntrackd: the
// master streams to its peer what the peer needs to carry on every connection if it takes over —
// new and ended flows, refreshed TCP states and last-seen times, NAT-PMP/PCP/UPnP pinholes, the
// FTP helper's state (sequence shifts, expected data connections) and the live policy (port
// forwards included) — in batches, authenticated. Either side sends its whole table when the peer
// (re)joins (a master that restarted gets the backup's copy); a backup sends nothing else: what
// its own sweep ends was its peer's to end. The receiving side installs flows into its own table
// with the same public port; they make no events there, so nothing echoes back.
//
//   every 50 ms   queued records go out, as many datagrams as they fill
//   every 1 s     HELLO: our role, and whose full table we hold (a peer that sees its own id
//                 missing sends its whole table)
//   every 5 s     master: flows seen since the last refresh go again (TCP state, last seen)
//   every 60 s    master: the whole table again (what a lost datagram of a full table missed)
import { createSocket, type Socket, type RemoteInfo } from "node:dgram";
import { randomBytes } from "node:crypto";
import type { ConnTable, Flow } from "../table/conntrack";
import type { AlgState } from "../table/alg-state";
import { putFlow } from "../table/snapshot";
import type { Flow6 } from "../table/flows6";
import { parseAddr6 } from "../net/addr6";
import type { FlowEvent } from "../observe/event-format";
import { formatAddr } from "../net/addr";
import * as L from "../../assembly/layout";
import {
  encode,
  decode,
  type SyncRecord,
  type SyncFlow,
  type SyncDelete6,
  type Role,
  SyncRefused,
  recordSize,
  KIND_DATA,
  KIND_HELLO,
  T_FLOW,
  T_FLOW6,
  T_DELETE6,
  T_DELETE,
  T_PINHOLE,
  T_POLICY,
  T_SEQ,
  T_EXPECT,
  HEADER,
  MAC,
  MAX_DATAGRAM,
  MAX_POLICY,
  MAX_SKEW_MS,
} from "./sync-wire";

export const DEFAULT_SYNC_PORT = 8472;
const FLUSH_MS = 50,
  HELLO_MS = 1000,
  REFRESH_MS = 5000,
  FULL_MS = 60_000;

export interface SyncOptions {
  peer: number;
  port: number; // the peer's address and port
  bindAddr: number; // our address on the sync link
  dev?: string; // the sync link's interface: the socket hears only it
  key: Buffer;
}

export interface SyncHooks {
  role(): Role;
  policyJson(): string;
  applyPolicy(json: string): string | undefined; // what went wrong, or undefined
  log(msg: string): void;
  bindToDevice(sock: Socket, dev: string): void;
}

export class TableSync {
  private sock?: Socket;
  private readonly sender = randomBytes(8).readBigUInt64BE(0) || 1n;
  private lastSeq = 0n;
  private queue: SyncRecord[] = [];
  private dirty = new Map<
    string,
    { proto: number; lanAddr: number; lanPort: number; remoteAddr: number; remotePort: number }
  >();
  private dirty6 = new Map<string, SyncDelete6>(); // new IPv6 flows, by their key's text
  private timers: NodeJS.Timeout[] = [];
  private lastRefresh = 0; // table time of the last refresh
  private policySeen = ""; // the policy last sent or received, so that a received one is not sent back
  private peerSender = 0n; // the peer's current sender id
  private peerSeq = 0n;
  private peerFull = 0n; // the sender id whose full table we hold
  peerRole?: Role;
  lastHeard = 0; // Date.now() of the last good datagram
  lastLagMs = 0; // our clock minus the peer's at its last datagram (both clocks NTP-close)
  readonly counts = {
    sentDatagrams: 0,
    sentRecords: 0,
    sentBytes: 0,
    receivedDatagrams: 0,
    receivedRecords: 0,
    receivedBytes: 0,
    fullSent: 0,
    fullReceived: 0,
    conflicts: 0,
    refused: { stranger: 0, short: 0, magic: 0, version: 0, mac: 0, malformed: 0, replay: 0, skew: 0 } as Record<
      string,
      number
    >,
  };

  constructor(
    private readonly o: SyncOptions,
    private readonly table: ConnTable,
    private readonly alg: AlgState,
    private readonly hooks: SyncHooks,
  ) {}

  async start(): Promise<void> {
    const sock = createSocket({ type: "udp4" });
    this.sock = sock;
    sock.on("message", (msg, from) => this.receive(msg, from));
    sock.on("error", (e) => this.hooks.log(`table sync: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(this.o.port, formatAddr(this.o.bindAddr), () => {
        sock.off("error", reject);
        resolve();
      });
    });
    if (this.o.dev) this.hooks.bindToDevice(sock, this.o.dev);
    this.policySeen = this.hooks.policyJson();
    this.timers.push(
      setInterval(() => this.flush(), FLUSH_MS),
      setInterval(() => this.hello(), HELLO_MS),
      setInterval(() => this.refresh(), REFRESH_MS),
      setInterval(() => {
        if (this.master) this.sendFull();
      }, FULL_MS),
    );
    this.hello();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.flush();
    this.sock?.close();
    this.sock = undefined;
  }

  get peer(): string {
    return `${formatAddr(this.o.peer)}:${this.o.port}`;
  }

  // ---- sending ---------------------------------------------------------------------------------

  private get master(): boolean {
    return this.hooks.role() === "master";
  }

  // A NEW or DESTROY from the table (host/observe/event-feed.ts).
  event(e: FlowEvent): void {
    if (!this.master) return;
    if (e.lan6 !== undefined) {
      const key = {
        proto: e.proto,
        lan: parseAddr6(e.lan6),
        lanPort: e.lanPort,
        remote: parseAddr6(e.remote6!),
        remotePort: e.remotePort,
      };
      const id = `${e.proto}/${e.lan6}/${e.lanPort}/${e.remote6}/${e.remotePort}`;
      if (e.type === "NEW") this.dirty6.set(id, key);
      else if (e.type === "DESTROY") {
        this.dirty6.delete(id);
        this.queue.push({ type: T_DELETE6, key });
      }
      return;
    }
    const key = {
      proto: e.proto,
      lanAddr: e.lanAddr,
      lanPort: e.lanPort,
      remoteAddr: e.remoteAddr,
      remotePort: e.remotePort,
    };
    const id = `${e.proto}/${e.lanAddr}/${e.lanPort}/${e.remoteAddr}/${e.remotePort}`;
    if (e.type === "NEW") this.dirty.set(id, key);
    else if (e.type === "DESTROY") {
      this.dirty.delete(id);
      this.queue.push({ type: T_DELETE, key });
    }
  }

  // The live policy changed here (ipmasq ipchains, portfw, a reload), on either side: the peer
  // gets it.
  policyChanged(): void {
    const json = this.hooks.policyJson();
    if (json === this.policySeen) return;
    this.policySeen = json;
    this.queuePolicy(json);
  }

  // A pinhole made, renewed or closed here (NAT-PMP, PCP, UPnP).
  pinholesChanged(): void {
    if (this.master) this.queuePinholes();
  }

  private queuePinholes(): void {
    for (const p of this.alg.pinholes())
      this.queue.push({
        type: T_PINHOLE,
        pinhole: { proto: p.proto, lanAddr: p.lanAddr, lanPort: p.lanPort, port: p.port, expiresIn: p.expiresIn },
      });
  }

  private queuePolicy(json: string): void {
    if (Buffer.byteLength(json) > MAX_POLICY) {
      this.hooks.log(
        `table sync: the policy (${Buffer.byteLength(json)} bytes) is too large to send; the peer keeps its own`,
      );
      return;
    }
    this.queue.push({ type: T_POLICY, json });
  }

  // A flow, and for an FTP control connection its sequence shift where a rewrite made one.
  private queueFlow(f: Flow): void {
    const r = this.flowRecord(f);
    this.queue.push(r);
    if (r.type !== T_FLOW || !r.flow.alg) return;
    const o = this.alg.offset(f.index);
    if (o.before !== 0 || o.after !== 0)
      this.queue.push({ type: T_SEQ, seq: { key: r.flow, boundary: o.boundary, before: o.before, after: o.after } });
  }

  // The FTP data connections expected now.
  private queueExpectations(): void {
    for (const e of this.alg.expectations()) this.queue.push({ type: T_EXPECT, expect: e });
  }

  private flowRecord(f: Flow): SyncRecord {
    const flow: SyncFlow = {
      proto: f.proto,
      tcpState: f.tcpState,
      fixed: f.fixed,
      alg: f.alg,
      lanAddr: f.lanAddr,
      lanPort: f.lanPort,
      remoteAddr: f.remoteAddr,
      remotePort: f.remotePort,
      wanAddr: f.wanAddr,
      wanPort: f.wanPort,
      idle: Math.max(0, this.table.now - f.lastSeen),
      age: Math.max(0, this.table.now - f.created),
    };
    return { type: T_FLOW, flow };
  }

  // Flows seen since the last refresh go again, so the peer's TCP states and timers stay right.
  private refresh(): void {
    const since = this.lastRefresh;
    this.lastRefresh = this.table.now;
    if (!this.master) return;
    for (const f of this.table.flows()) if (f.lastSeen >= since) this.queueFlow(f);
    for (const f of this.table.v6.flows()) if (f.lastSeen >= since) this.queueFlow6(f);
    this.queueExpectations();
  }

  private queueFlow6(f: Flow6): void {
    this.queue.push({
      type: T_FLOW6,
      flow6: {
        proto: f.proto,
        tcpState: f.tcpState,
        fixed: f.fixed,
        alg: f.alg,
        lan: parseAddr6(f.lanAddr),
        lanPort: f.lanPort,
        remote: parseAddr6(f.remoteAddr),
        remotePort: f.remotePort,
        wanPort: f.wanPort,
        idle: Math.max(0, this.table.now - f.lastSeen),
        age: Math.max(0, this.table.now - f.created),
      },
    });
  }

  // Everything the peer needs, when it (re)joins.
  private sendFull(): void {
    this.flush(); // what was queued goes as it is; the full table's datagrams are marked
    this.counts.fullSent++;
    this.queuePolicy(this.hooks.policyJson());
    this.queuePinholes();
    for (const f of this.table.flows()) this.queueFlow(f);
    for (const f of this.table.v6.flows()) this.queueFlow6(f);
    this.queueExpectations();
    this.flush(true);
  }

  private nextSeq(): bigint {
    const now = BigInt(Date.now()) * 1000n;
    this.lastSeq = now > this.lastSeq ? now : this.lastSeq + 1n;
    return this.lastSeq;
  }

  private send(kind: number, records: SyncRecord[], full = false): void {
    if (!this.sock) return;
    const b = encode(
      this.o.key,
      {
        kind,
        sender: this.sender,
        seq: this.nextSeq(),
        role: this.hooks.role(),
        full,
        fullFrom: Number(this.peerFull & 0xffffffffn),
      },
      records,
    );
    this.sock.send(b, this.o.port, formatAddr(this.o.peer));
    this.counts.sentDatagrams++;
    this.counts.sentRecords += records.length;
    this.counts.sentBytes += b.length;
  }

  private hello(): void {
    this.send(KIND_HELLO, []);
  }

  flush(full = false): void {
    for (const key of this.dirty.values()) {
      const i = this.table.findFlow(key.proto, key.lanAddr, key.lanPort, key.remoteAddr, key.remotePort);
      if (i >= 0) this.queueFlow(this.table.flow(i));
    }
    this.dirty.clear();
    for (const k of this.dirty6.values()) {
      const i = this.table.v6.find(k.proto, k.lan, k.lanPort, k.remote, k.remotePort);
      if (i >= 0) this.queueFlow6(this.table.v6.flow(i));
    }
    this.dirty6.clear();
    let batch: SyncRecord[] = [];
    let size = HEADER + MAC;
    if (full && this.queue.length === 0) this.send(KIND_DATA, [], true); // an empty table is a full table too
    for (const r of this.queue) {
      const n = recordSize(r);
      if (batch.length && size + n > MAX_DATAGRAM) {
        this.send(KIND_DATA, batch, full);
        batch = [];
        size = HEADER + MAC;
      }
      batch.push(r);
      size += n;
    }
    if (batch.length) this.send(KIND_DATA, batch, full);
    this.queue = [];
  }

  // ---- receiving -------------------------------------------------------------------------------

  private receive(msg: Buffer, from: RemoteInfo): void {
    if (from.address !== formatAddr(this.o.peer)) {
      this.counts.refused.stranger++;
      return;
    }
    let d: ReturnType<typeof decode>;
    try {
      d = decode(this.o.key, msg);
    } catch (e) {
      this.counts.refused[e instanceof SyncRefused ? e.why : "malformed"]++;
      return;
    }
    const h = d.header;
    const lag = Date.now() - Number(h.seq / 1000n);
    if (Math.abs(lag) > MAX_SKEW_MS) {
      this.counts.refused.skew++;
      return;
    }
    if (h.sender === this.peerSender && h.seq <= this.peerSeq) {
      this.counts.refused.replay++;
      return;
    }
    if (h.sender !== this.peerSender) {
      // a new run of the peer: what we hold of its old run is still right, its new run sends all
      this.hooks.log(
        `table sync: peer ${formatAddr(this.o.peer)} (${h.role}) ${this.peerSender ? "started again" : "heard"}`,
      );
      this.peerSender = h.sender;
      this.peerFull = 0n;
    }
    this.peerSeq = h.seq;
    this.peerRole = h.role;
    this.lastHeard = Date.now();
    this.lastLagMs = lag;
    this.counts.receivedDatagrams++;
    this.counts.receivedBytes += msg.length;
    this.counts.receivedRecords += d.records.length;
    // the peer says whose full table it holds: not ours (it is new, or we are) -> it gets ours
    if (h.fullFrom !== Number(this.sender & 0xffffffffn)) {
      if (h.kind === KIND_HELLO) this.sendFull();
    }
    if (d.records.length) this.apply(d.records);
    if (h.full && this.peerFull !== h.sender) {
      this.peerFull = h.sender;
      this.counts.fullReceived++;
    }
  }

  private apply(records: SyncRecord[]): void {
    this.table.quiet = true; // installed flows make no events: nothing goes back to the peer
    try {
      for (const r of records) {
        // a record the table cannot take (the peer's key, but not a sane peer) is counted and
        // skipped; the gateway goes on
        try {
          this.applyOne(r);
        } catch {
          this.counts.refused.malformed++;
        }
      }
    } finally {
      this.table.quiet = false;
    }
  }

  private applyOne(r: SyncRecord): void {
    switch (r.type) {
      case T_FLOW:
        if (!validFlow(r.flow)) break;
        if (putFlow(this.table, r.flow, "sync") < 0) this.counts.conflicts++;
        break;
      case T_FLOW6: {
        const f = r.flow6;
        if (f.proto !== L.PROTO_TCP && f.proto !== L.PROTO_UDP && f.proto !== L.PROTO_ICMPV6) break;
        const i = this.table.v6.create(
          f.proto,
          f.lan,
          f.lanPort,
          f.remote,
          f.remotePort,
          (f.tcpState & L.TS_MASK) | (f.fixed ? L.ES_FIXED : 0) | (f.alg ? L.ES_ALG : 0),
          f.wanPort ? { want: f.wanPort } : undefined,
        );
        if (i < 0) this.counts.conflicts++;
        else this.table.v6.update(i, f.tcpState, f.idle, f.age);
        break;
      }
      case T_DELETE: {
        const k = r.key;
        const i = this.table.findFlow(k.proto, k.lanAddr, k.lanPort, k.remoteAddr, k.remotePort);
        if (i >= 0) this.table.removeFlow(i, "sync");
        break;
      }
      case T_DELETE6: {
        const k = r.key;
        const i = this.table.v6.find(k.proto, k.lan, k.lanPort, k.remote, k.remotePort);
        if (i >= 0) this.table.v6.remove(i, "sync");
        break;
      }
      case T_PINHOLE:
        this.alg.pinhole(
          r.pinhole.proto,
          r.pinhole.lanAddr,
          r.pinhole.lanPort,
          r.pinhole.port,
          r.pinhole.expiresIn,
          true,
        );
        break;
      case T_SEQ: {
        const k = r.seq.key;
        const i = this.table.findFlow(k.proto, k.lanAddr, k.lanPort, k.remoteAddr, k.remotePort);
        if (i >= 0) this.alg.setOffset(i, r.seq);
        break;
      }
      case T_EXPECT: {
        const e = r.expect;
        if (!this.alg.expected(e.proto, e.port, e.remote))
          this.alg.expect(e.proto, e.lanAddr, e.lanPort, e.remote, e.port);
        break;
      }
      case T_POLICY:
        if (r.json === this.policySeen) break;
        this.policySeen = r.json;
        {
          const problem = this.hooks.applyPolicy(r.json);
          this.hooks.log(
            problem
              ? `table sync: the peer's policy was not applied: ${problem}`
              : "table sync: the peer's policy applied",
          );
        }
        break;
    }
  }
}

// A flow the table can hold: a protocol it translates and ports in range (the MAC says the peer
// sent it; this says the peer's table was sane).
function validFlow(f: SyncFlow): boolean {
  return (f.proto === L.PROTO_TCP || f.proto === L.PROTO_UDP || f.proto === L.PROTO_ICMP) && f.wanPort > 0;
}
