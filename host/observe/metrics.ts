// Optional Prometheus text endpoint (`--metrics ADDR:PORT`, off by default). A bare port binds
// 127.0.0.1: the operator names any other address; it is never all interfaces by default.
import { createServer, type Server } from "node:http";
import { statusOf, type WorkerStatus } from "./status";
import type { HostRow } from "./host-accounting";
import type { GatewayState } from "../gateway/gateway-state";
import { tcpStateName } from "../table/listing";
import { protoName } from "../net/protocols";
import * as L from "../../assembly/layout";

export function parseListen(spec: string, option = "--metrics"): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-f:]+\]|[^:]+):)?(\d{1,5})$/i.exec(spec);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`${option} wants [ADDR:]PORT, got "${spec}"`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

// Host series are bounded: the METRIC_HOSTS busiest hosts by name, the rest summed as "other".
export const METRIC_HOSTS = 1000;

function boundedHosts(rows: HostRow[]): HostRow[] {
  const named = rows.filter((r) => r.host !== "other").slice(0, METRIC_HOSTS);
  const rest = rows.filter((r) => !named.includes(r));
  if (rest.length === 0) return named;
  const sum = (k: keyof HostRow): number => rest.reduce((n, r) => n + (r[k] as number), 0);
  return [
    ...named,
    {
      host: "other",
      flows: sum("flows"),
      flowsTotal: sum("flowsTotal"),
      bytesOut: sum("bytesOut"),
      bytesIn: sum("bytesIn"),
      packetsOut: sum("packetsOut"),
      packetsIn: sum("packetsIn"),
      rateOut: sum("rateOut"),
      rateIn: sum("rateIn"),
    },
  ];
}

export function metricsText(g: GatewayState): string {
  const s = statusOf(g);
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, rows: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) lines.push(`${name}${labels} ${v}`);
  };
  const sum = (k: keyof WorkerStatus): number => s.workers.reduce((n, w) => n + w[k], 0);
  metric("ipmasq_packets_total", "counter", "Packets translated, by direction.", [
    ['{direction="out"}', sum("packetsOut")],
    ['{direction="in"}', sum("packetsIn")],
  ]);
  metric("ipmasq_bytes_total", "counter", "Bytes translated, by direction.", [
    ['{direction="out"}', sum("bytesOut")],
    ['{direction="in"}', sum("bytesIn")],
  ]);
  metric(
    "ipmasq_drops_total",
    "counter",
    "Packets dropped, by reason.",
    Object.entries(s.drops).map(([r, n]) => [`{reason="${r}"}`, n]),
  );
  const byKind = new Map<string, number>();
  for (const f of g.table.flows()) {
    const key = `{proto="${protoName(f.proto)}",state="${f.proto === L.PROTO_TCP ? tcpStateName(f.tcpState) : "active"}"}`;
    byKind.set(key, (byKind.get(key) ?? 0) + 1);
  }
  metric("ipmasq_connections", "gauge", "Connections in the table, by protocol and state.", [...byKind.entries()]);
  metric("ipmasq_table_entries", "gauge", "Connection table entries in use.", [["", s.connections]]);
  metric("ipmasq_table_capacity", "gauge", "Connection table size (--max-conns).", [["", s.maxConns]]);
  metric("ipmasq_table_full_drops_total", "counter", "New flows refused because the table was full.", [
    ["", s.tableFullDrops],
  ]);
  const byKind6 = new Map<string, number>();
  for (const f of g.table.v6.flows()) {
    const proto = f.proto === L.PROTO_ICMPV6 ? "icmpv6" : protoName(f.proto);
    const key = `{proto="${proto}",state="${f.proto === L.PROTO_TCP ? tcpStateName(f.tcpState) : "active"}"}`;
    byKind6.set(key, (byKind6.get(key) ?? 0) + 1);
  }
  metric("ipmasq_ipv6_flows", "gauge", "IPv6 flows (routed), by protocol and state.", [...byKind6.entries()]);
  metric("ipmasq_ipv6_table_capacity", "gauge", "IPv6 flow table size.", [["", s.maxFlows6]]);
  metric("ipmasq_ipv6_table_full_drops_total", "counter", "New IPv6 flows refused because the table was full.", [
    ["", s.table6FullDrops],
  ]);
  metric(
    "ipmasq_worker_packets_total",
    "counter",
    "Packets handled per worker.",
    s.workers.flatMap(
      (w) =>
        [
          [`{worker="${w.id}",direction="out"}`, w.packetsOut],
          [`{worker="${w.id}",direction="in"}`, w.packetsIn],
        ] as Array<[string, number]>,
    ),
  );
  metric(
    "ipmasq_worker_batches_total",
    "counter",
    "Batches read from the TUN queue per worker.",
    s.workers.map((w) => [`{worker="${w.id}"}`, w.batches]),
  );
  metric(
    "ipmasq_worker_reads_total",
    "counter",
    "Reads from the TUN queue per worker (a read is one super-packet).",
    s.workers.map((w) => [`{worker="${w.id}"}`, w.reads]),
  );
  metric(
    "ipmasq_worker_read_bytes_total",
    "counter",
    "Bytes of those reads per worker.",
    s.workers.map((w) => [`{worker="${w.id}"}`, w.readBytes]),
  );
  metric(
    "ipmasq_worker_slow_path_total",
    "counter",
    "Packets that took the slow path, per worker.",
    s.workers.map((w) => [`{worker="${w.id}"}`, w.slowPath]),
  );
  metric(
    "ipmasq_receive_hold",
    "gauge",
    "1 while an interface is busy and holds bursts open (--gro-busy), by interface.",
    s.receiveHolds.map((h) => [`{iface="${h.iface}"}`, h.holding ? 1 : 0]),
  );
  metric(
    "ipmasq_lan_prefix6",
    "gauge",
    "1 for each global IPv6 prefix a LAN interface has (delegated by the ISP, followed as it changes).",
    s.prefixes6.map((p) => [`{iface="${p.iface}",prefix="${p.prefix}"}`, 1]),
  );
  metric("ipmasq_uptime_seconds", "gauge", "Seconds since the gateway started.", [["", s.uptimeSeconds]]);
  const hosts = boundedHosts(g.hosts.rows("bytes"));
  metric(
    "ipmasq_host_bytes_total",
    "counter",
    `Bytes per LAN host since start, by direction (the ${METRIC_HOSTS} busiest; the rest as host="other").`,
    hosts.flatMap(
      (h) =>
        [
          [`{host="${h.host}",direction="out"}`, h.bytesOut],
          [`{host="${h.host}",direction="in"}`, h.bytesIn],
        ] as Array<[string, number]>,
    ),
  );
  metric(
    "ipmasq_host_packets_total",
    "counter",
    "Packets per LAN host since start, by direction.",
    hosts.flatMap(
      (h) =>
        [
          [`{host="${h.host}",direction="out"}`, h.packetsOut],
          [`{host="${h.host}",direction="in"}`, h.packetsIn],
        ] as Array<[string, number]>,
    ),
  );
  metric(
    "ipmasq_host_flows",
    "gauge",
    "Connections per LAN host now.",
    hosts.map((h) => [`{host="${h.host}"}`, h.flows]),
  );
  metric(
    "ipmasq_host_flows_total",
    "counter",
    "Connections per LAN host since start.",
    hosts.map((h) => [`{host="${h.host}"}`, h.flowsTotal]),
  );
  const ev = s.events;
  metric("ipmasq_events_total", "counter", "Connection events, by type.", [
    ['{type="new"}', ev.new],
    ['{type="destroy"}', ev.destroy],
    ['{type="update"}', ev.update],
  ]);
  metric("ipmasq_events_lost_total", "counter", "Connection events the host could not take in time (ring full).", [
    ["", ev.lost],
  ]);
  metric("ipmasq_event_log_dropped_total", "counter", "Event log lines over --log-events-rate, or not written.", [
    ["", ev.logDropped],
  ]);
  metric("ipmasq_host_limit_drops_total", "counter", "New connections refused by --max-conns-per-host.", [
    ["", s.hostLimitDrops],
  ]);
  return `${lines.join("\n")}\n`;
}

export async function startMetrics(spec: string, g: GatewayState): Promise<Server> {
  const { host, port } = parseListen(spec);
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("try /metrics\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText(g));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return server;
}
