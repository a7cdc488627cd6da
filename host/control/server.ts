// The control socket: a UNIX socket (mode 0600, so root only) speaking one JSON request per line.
// `ipmasq status` and `ipmasq conns` talk to the running gateway through it.
import { createServer, Server, Socket } from "node:net";
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { netnsId } from "../state/instance";
import { join, dirname } from "node:path";
import { ConnTable } from "../table/conntrack";
import { MemoryMap, statsAddress } from "../table/memory-map";
import { REASON_NAMES } from "./reasons";
import * as L from "../../assembly/layout";
import { HoldStatus } from "../kernel/receive-hold";
import { workersReading } from "../worker/readiness";

export function controlSocketPath(stateDir: string, tun: string): string {
  return join(stateDir, `control-net${netnsId()}-${tun}.sock`);
}

export interface GatewayView {
  table: ConnTable;
  memory: WebAssembly.Memory;
  map: MemoryMap;
  started: number;
  options: { core: string; workers: number; maxConns: number };
  network(): NetworkStatus;
  observed(): Observed;
}

// What the gateway has seen beyond its counters: hosts and events (host/gateway.ts fills it).
export interface Observed {
  hostsSeen: number; topHosts: unknown[];
  events: { new: number; destroy: number; update: number; lost: number; logged: number; logDropped: number; log: string };
  ha?: Omit<HaStatus, "standbyDrops">; // with --sync-peer; statusOf adds the workers' drops
}

// An HA pair member (docs/ha.md): its role, its peer, how current its copy of the peer's table is.
export interface HaStatus {
  role: string; peer: string; peerRole: string; lastHeardMs: number; lagMs: number; standbyDrops: number;
  counts: Record<string, number | Record<string, number>>;
}

export interface NetworkStatus {
  tun: string; offloads: string[];
  devices: Array<{ iface: string; device: string }>; // the TUN device each interface comes in through
  wan: string; publicAddress: string; // "" while there is none
  waiting?: string; // why new connections are refused, while they are
  portMappingRefused: number; // NAT-PMP/PCP requests from outside the masqueraded networks
  receiveHolds: HoldStatus[]; // per tuned interface: holding bursts (busy) or not, its receive rate
}

export function statusOf(g: GatewayView): Record<string, unknown> {
  const workers = [];
  const drops: Record<string, number> = {};
  for (let id = 0; id < g.map.workers; id++) {
    const s = new Float64Array(g.memory.buffer, statsAddress(id), L.STATS_SLOTS);
    workers.push({ id, packetsOut: s[L.S_PKTS_OUT], packetsIn: s[L.S_PKTS_IN], bytesOut: s[L.S_BYTES_OUT], bytesIn: s[L.S_BYTES_IN],
      slowPath: s[L.S_SLOW], batches: s[L.S_BATCHES], passed: s[L.S_PASSED], writeErrors: s[L.S_WRITE_ERRORS], icmpSent: s[L.S_REPLIES], slowPathErrors: s[L.S_SLOW_ERRORS],
      reads: s[L.S_READS], readBytes: s[L.S_READ_BYTES], standbyDrops: s[L.S_STANDBY] });
    for (let r = 1; r < L.R_COUNT; r++) if (s[L.S_DROPS + r]) drops[REASON_NAMES[r]] = (drops[REASON_NAMES[r]] ?? 0) + s[L.S_DROPS + r];
  }
  const observed = g.observed();
  const ha: HaStatus | undefined = observed.ha && { ...observed.ha, standbyDrops: workers.reduce((n, w) => n + w.standbyDrops, 0) };
  return {
    pid: process.pid, uptimeSeconds: Math.floor((Date.now() - g.started) / 1000), core: g.options.core, ...g.network(),
    connections: g.table.live, maxConns: g.options.maxConns, tableFullDrops: g.table.fullDrops,
    maxConnsPerHost: g.table.hostLimit, hostLimitDrops: g.table.hostLimitDrops, workersReading: workersReading(g.memory, g.map), workers, drops, ...observed, ha,
  };
}

// An answer, or a stream: `stream(send)` starts it and returns how to stop it; send() says false
// when the line was dropped because the reader is behind.
export interface Answer { ok?: unknown; error?: string; stream?: (send: (v: unknown) => boolean) => () => void }

const STREAM_BACKLOG = 256 * 1024; // bytes a slow reader may have waiting before lines are dropped
export type Handler = (req: { cmd?: string; args?: unknown }) => Answer;

export class ControlServer {
  private server?: Server;
  private readonly streams = new Set<Socket>();
  constructor(private readonly path: string, private readonly handle: Handler) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) unlinkSync(this.path); // left by a killed run (the TUN name was free)
    this.server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => { this.server!.once("error", reject); this.server!.listen(this.path, resolve); });
    chmodSync(this.path, 0o600);
  }

  private serve(sock: Socket): void {
    let buf = "";
    sock.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let answer: Answer;
        try {
          answer = this.handle(JSON.parse(line));
        } catch (e) {
          answer = { error: e instanceof SyntaxError ? "request is not JSON" : (e as Error).message };
        }
        if (answer.stream) { this.stream(sock, answer.stream); return; }
        sock.write(JSON.stringify(answer) + "\n");
      }
    });
    sock.on("error", () => sock.destroy());
  }

  // Lines until the reader goes; a reader that falls behind loses lines and is told how many.
  private stream(sock: Socket, start: NonNullable<Answer["stream"]>): void {
    sock.removeAllListeners("data");
    let dropped = 0;
    const owned = (): void => {
      if (dropped) { sock.write(JSON.stringify({ ok: { dropped } }) + "\n"); dropped = 0; }
    };
    const stop = start((v) => {
      if (sock.writableLength > STREAM_BACKLOG) { dropped++; return false; }
      owned();
      sock.write(JSON.stringify({ ok: v }) + "\n");
      return true;
    });
    sock.on("drain", owned); // told as soon as it caught up, not only with the next event
    this.streams.add(sock);
    sock.on("close", () => { stop(); this.streams.delete(sock); });
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    if (!this.server) return;
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    try { unlinkSync(this.path); } catch { /* gone */ }
  }
}
