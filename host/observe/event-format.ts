// A connection event as people and programs read it: one text line (like `conntrack -E`), a
// JSON object, and an RFC 5424 syslog line whose structured data carries every field, so that a
// log file can be searched again (host/observe/event-search.ts).
import type { FlowEventRecord } from "../table/flow-events";
import { formatAddr } from "../net/addr";
import { protoName } from "../net/protocols";
import { tcpStateName } from "../table/listing";
import * as L from "../../assembly/layout";

// A table event, or an UPDATE for a port forward or a NAT-PMP/PCP mapping (its `why` says which).
export type FlowEvent = Omit<FlowEventRecord, "why"> & { why: string };

export interface EventJson {
  time: string;
  type: string;
  proto: string;
  state: string;
  lan: string;
  public: string;
  remote: string;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  seconds: number;
  why: string;
}

export function eventJson(e: FlowEvent): EventJson {
  const icmp = e.proto === L.PROTO_ICMP;
  const ep = (a: number, p: number): string => (icmp ? `${formatAddr(a)}#${p}` : `${formatAddr(a)}:${p}`);
  const tcpState = e.state & L.TS_MASK;
  // an IPv6 flow is routed: [address]:port ends and no public end
  const v6 = e.lan6 !== undefined && e.remote6 !== undefined;
  const icmp6 = e.proto === L.PROTO_ICMPV6;
  const ep6 = (a: string, p: number): string => (icmp6 ? `[${a}]#${p}` : `[${a}]:${p}`);
  let remote: string;
  if (v6) remote = icmp6 ? e.remote6! : ep6(e.remote6!, e.remotePort);
  else if (e.remoteAddr === 0)
    remote = "*"; // an UPDATE: a mapping open to any peer
  else remote = icmp ? formatAddr(e.remoteAddr) : ep(e.remoteAddr, e.remotePort);
  return {
    time: new Date(e.time).toISOString(),
    type: e.type,
    proto: icmp6 ? "icmpv6" : protoName(e.proto),
    state: e.proto === L.PROTO_TCP && e.type !== "UPDATE" ? tcpStateName(tcpState) : "",
    lan: v6 ? ep6(e.lan6!, e.lanPort) : ep(e.lanAddr, e.lanPort),
    public: v6 ? "-" : ep(e.wanAddr, e.wanPort),
    remote,
    bytesOut: e.bytesOut,
    bytesIn: e.bytesIn,
    packetsOut: e.pktsOut,
    packetsIn: e.pktsIn,
    seconds: e.seconds,
    why: e.why,
  };
}

// "2026-11-25T21:40:00.123Z [DESTROY] tcp 192.168.0.2:41000 -> 10.0.0.2:80 public 10.0.0.1:41000 TIME_WAIT out 1.2 kB/10 in 5.6 kB/8 12s closed"
export function eventText(j: EventJson): string {
  const parts = [j.time, `[${j.type}]`.padEnd(9), j.proto, `${j.lan} -> ${j.remote}`, `public ${j.public}`];
  if (j.state) parts.push(j.state);
  if (j.type === "DESTROY")
    parts.push(`out ${j.bytesOut} B/${j.packetsOut} in ${j.bytesIn} B/${j.packetsIn}`, `${j.seconds}s`);
  if (j.why) parts.push(j.why);
  return parts.join(" ");
}

// RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG. Facility daemon (3),
// severity informational (6). 32473 is the enterprise number RFC 5612 sets aside for examples.
export const SD_ID = "flow@32473";
const PRI = 3 * 8 + 6;
const sdValue = (v: string): string => v.replace(/[\\"\]]/g, (c) => `\\${c}`);

export function eventSyslog(j: EventJson, hostname: string, pid: number): string {
  const params = Object.entries(j)
    .filter(([k]) => k !== "time" && k !== "type")
    .map(([k, v]) => `${k}="${sdValue(String(v))}"`);
  return `<${PRI}>1 ${j.time} ${hostname || "-"} ipmasq ${pid} ${j.type} [${SD_ID} ${params.join(" ")}] ${eventText(j).slice(j.time.length + 1)}`;
}

// The event a syslog line of ours carries, or undefined for any other line.
export function parseSyslogLine(line: string): EventJson | undefined {
  const head =
    /^<\d{1,3}>1 (\S+) \S+ ipmasq \S+ (NEW|DESTROY|UPDATE) \[flow@32473((?: [A-Za-z]+="(?:[^"\\\]]|\\.)*")*)\]/.exec(
      line,
    );
  if (!head) return undefined;
  const f: Record<string, string> = {};
  for (const m of head[3].matchAll(/ ([A-Za-z]+)="((?:[^"\\\]]|\\.)*)"/g)) f[m[1]] = m[2].replace(/\\(.)/g, "$1");
  const n = (k: string): number => Number(f[k] ?? 0);
  return {
    time: head[1],
    type: head[2],
    proto: f.proto ?? "",
    state: f.state ?? "",
    lan: f.lan ?? "",
    public: f.public ?? "",
    remote: f.remote ?? "",
    bytesOut: n("bytesOut"),
    bytesIn: n("bytesIn"),
    packetsOut: n("packetsOut"),
    packetsIn: n("packetsIn"),
    seconds: n("seconds"),
    why: f.why ?? "",
  };
}
