// The connection table as people read it (`ipmasq conns`, the demo) and as JSON.
import { protoName } from "../net/protocols";
import type { Flow, ConnTable } from "./conntrack";
import type { Flow6 } from "./flows6";
import { formatAddr } from "../net/addr";
import { formatAddr6 } from "../net/addr6";
import type { AlgState } from "./alg-state";
import * as L from "../../assembly/layout";

export function tcpStateName(st: number): string {
  if (st & L.TS_RST) return "CLOSE";
  if (st & L.TS_FIN_OUT && st & L.TS_FIN_IN) return "TIME_WAIT";
  if (st & (L.TS_FIN_OUT | L.TS_FIN_IN)) return "FIN_WAIT";
  if (st & L.TS_ESTABLISHED) return "ESTABLISHED";
  if (st & L.TS_SYN_OUT && st & L.TS_SYN_IN) return "SYN_RECV";
  return "SYN_SENT";
}

export interface FlowJson {
  proto: string;
  state: string;
  lan: string;
  remote: string;
  public: string;
  expiresIn: number;
  bytesOut: number;
  bytesIn: number;
}

export function flowJson(t: ConnTable, f: Flow): FlowJson {
  const ep = (a: number, p: number): string =>
    f.proto === L.PROTO_ICMP ? `${formatAddr(a)}#${p}` : `${formatAddr(a)}:${p}`;
  return {
    proto: protoName(f.proto).toUpperCase(),
    state: f.proto === L.PROTO_TCP ? tcpStateName(f.tcpState) : "",
    lan: ep(f.lanAddr, f.lanPort),
    remote: f.proto === L.PROTO_ICMP ? formatAddr(f.remoteAddr) : ep(f.remoteAddr, f.remotePort),
    public: ep(f.wanAddr, f.wanPort),
    expiresIn: Math.max(0, t.timeoutOf(f.proto, f.tcpState) - (t.now - f.lastSeen)),
    bytesOut: f.bytesOut,
    bytesIn: f.bytesIn,
  };
}

// An IPv6 flow: routed, so it has no public end of its own ("-"), but under NAT66 (its
// masquerade address and port); addresses in brackets.
// `masq`: NAT66's address as text ("" without NAT66), read once for a whole listing.
export function flow6Json(t: ConnTable, f: Flow6, masq: string): FlowJson {
  const ep = (a: string, p: number): string => (f.proto === L.PROTO_ICMPV6 ? `[${a}]#${p}` : `[${a}]:${p}`);
  return {
    proto: f.proto === L.PROTO_ICMPV6 ? "ICMPV6" : protoName(f.proto).toUpperCase(),
    state: f.proto === L.PROTO_TCP ? tcpStateName(f.tcpState) : "",
    lan: ep(f.lanAddr, f.lanPort),
    remote: f.proto === L.PROTO_ICMPV6 ? f.remoteAddr : ep(f.remoteAddr, f.remotePort),
    public: masq && f.wanPort ? ep(masq, f.wanPort) : "-",
    expiresIn: Math.max(
      0,
      t.timeoutOf(f.proto === L.PROTO_ICMPV6 ? L.PROTO_ICMP : f.proto, f.tcpState) - (t.now - f.lastSeen),
    ),
    bytesOut: f.bytesOut,
    bytesIn: f.bytesIn,
  };
}

// Every flow of both families, IPv4 first, as rows.
export function* flowRows(t: ConnTable): Generator<FlowJson> {
  for (const f of t.flows()) yield flowJson(t, f);
  const a = t.v6.masqAddress;
  const masq = a ? formatAddr6(a) : "";
  for (const f of t.v6.flows()) yield flow6Json(t, f, masq);
}

// Rows under a heading, each column as wide as its widest cell.
export function formatColumns(head: string[], cells: string[][]): string {
  // a reduce, not Math.max(...): a million rows would be a million arguments
  const widths = head.map((h, i) => cells.reduce((w, c) => Math.max(w, c[i].length), h.length));
  const line = (c: string[]): string =>
    c
      .map((x, i) => x.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}

export function formatFlows(rows: FlowJson[]): string {
  return formatColumns(
    ["prot", "state", "lan", "remote", "public", "expires", "bytes out", "bytes in"],
    rows.map((r) => [
      r.proto,
      r.state,
      r.lan,
      r.remote,
      r.public,
      `${r.expiresIn}s`,
      String(r.bytesOut),
      String(r.bytesIn),
    ]),
  );
}

// `ipchains -M -L`: the masquerading entries the way ipchains printed them.
export function formatMasqList(rows: FlowJson[]): string {
  const mmss = (sec: number): string =>
    `${String(Math.floor(sec / 60)).padStart(2, "0")}:${String(sec % 60).padStart(2, "0")}.00`;
  const host = (ep: string): string => ep.split(/[:#]/)[0];
  const port = (ep: string): string => ep.split(/[:#]/)[1] ?? "0";
  return `${[
    "IP masquerading entries",
    "prot expire   source               destination          ports",
    ...rows.map(
      (r) =>
        `${r.proto.padEnd(4)} ${mmss(r.expiresIn)} ${host(r.lan).padEnd(20)} ${host(r.remote).padEnd(20)} ${port(r.lan)} (${port(r.public)}) -> ${r.proto === "ICMP" ? "0" : port(r.remote)}`,
    ),
  ].join("\n")}\n`;
}

// NAT-PMP / PCP mappings: open to any peer until they expire; IPv6 pinholes have no public end
// of their own (the LAN host's address is the one the WAN reaches), but under NAT66.
export function pinholeRows(alg: AlgState, publicAddr: number, table: ConnTable): FlowJson[] {
  const now = table.now;
  const masq = table.v6.masqAddress;
  const v6 = table.pinholes6.list().map((p) => ({
    proto: protoName(p.proto).toUpperCase(),
    state: "MAPPED",
    lan: `[${p.addr}]:${p.port}`,
    remote: "*",
    public: p.wanPort && masq ? `[${formatAddr6(masq)}]:${p.wanPort}` : "-",
    expiresIn: Math.max(0, p.expires - now),
    bytesOut: 0,
    bytesIn: 0,
  }));
  return [
    ...alg.pinholes().map((p) => ({
      proto: protoName(p.proto).toUpperCase(),
      state: "MAPPED",
      lan: `${formatAddr(p.lanAddr)}:${p.lanPort}`,
      remote: "*",
      public: `${formatAddr(publicAddr)}:${p.port}`,
      expiresIn: p.expiresIn,
      bytesOut: 0,
      bytesIn: 0,
    })),
    ...v6,
  ];
}
