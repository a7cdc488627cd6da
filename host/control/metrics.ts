// Optional Prometheus text endpoint (`--metrics ADDR:PORT`, off by default). A bare port binds
// 127.0.0.1: the operator names any other address; it is never all interfaces by default.
import { createServer, Server } from "node:http";
import { GatewayView, statusOf } from "./server";
import { tcpStateName } from "../table/listing";
import { protoName } from "../net/protocols";
import * as L from "../../assembly/layout";


export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-f:]+\]|[^:]+):)?(\d{1,5})$/i.exec(spec);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`--metrics wants [ADDR:]PORT, got "${spec}"`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export function metricsText(g: GatewayView): string {
  const s = statusOf(g) as { workers: Array<Record<string, number>>; drops: Record<string, number>; connections: number; maxConns: number; tableFullDrops: number; uptimeSeconds: number };
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, rows: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) lines.push(`${name}${labels} ${v}`);
  };
  const sum = (k: string): number => s.workers.reduce((n, w) => n + w[k], 0);
  metric("ipmasq_packets_total", "counter", "Packets translated, by direction.", [['{direction="out"}', sum("packetsOut")], ['{direction="in"}', sum("packetsIn")]]);
  metric("ipmasq_bytes_total", "counter", "Bytes translated, by direction.", [['{direction="out"}', sum("bytesOut")], ['{direction="in"}', sum("bytesIn")]]);
  metric("ipmasq_drops_total", "counter", "Packets dropped, by reason.", Object.entries(s.drops).map(([r, n]) => [`{reason="${r}"}`, n]));
  const byKind = new Map<string, number>();
  for (const f of g.table.flows()) {
    const key = `{proto="${protoName(f.proto)}",state="${f.proto === L.PROTO_TCP ? tcpStateName(f.tcpState) : "active"}"}`;
    byKind.set(key, (byKind.get(key) ?? 0) + 1);
  }
  metric("ipmasq_connections", "gauge", "Connections in the table, by protocol and state.", [...byKind.entries()]);
  metric("ipmasq_table_entries", "gauge", "Connection table entries in use.", [["", s.connections]]);
  metric("ipmasq_table_capacity", "gauge", "Connection table size (--max-conns).", [["", s.maxConns]]);
  metric("ipmasq_table_full_drops_total", "counter", "New flows refused because the table was full.", [["", s.tableFullDrops]]);
  metric("ipmasq_worker_packets_total", "counter", "Packets handled per worker.", s.workers.flatMap((w) => [[`{worker="${w.id}",direction="out"}`, w.packetsOut], [`{worker="${w.id}",direction="in"}`, w.packetsIn]] as Array<[string, number]>));
  metric("ipmasq_worker_batches_total", "counter", "Batches read from the TUN queue per worker.", s.workers.map((w) => [`{worker="${w.id}"}`, w.batches]));
  metric("ipmasq_worker_slow_path_total", "counter", "Packets that took the slow path, per worker.", s.workers.map((w) => [`{worker="${w.id}"}`, w.slowPath]));
  metric("ipmasq_uptime_seconds", "gauge", "Seconds since the gateway started.", [["", s.uptimeSeconds]]);
  return lines.join("\n") + "\n";
}

export async function startMetrics(spec: string, g: GatewayView): Promise<Server> {
  const { host, port } = parseListen(spec);
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") { res.writeHead(404).end("try /metrics\n"); return; }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText(g));
  });
  await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(port, host, resolve); });
  return server;
}
