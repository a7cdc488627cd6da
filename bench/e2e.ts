// End-to-end benchmark: ipmasq (WASM and TS cores, 1 and 2 workers) against the kernel's own
// nftables masquerade, in the same three-namespace topology, measured in one run.
// Prints a markdown table and writes bench/results/e2e.json.
//   npm run bench:e2e [-- --seconds 5]
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, Topology } from "../tests/helpers/topology";

const secondsArg = process.argv.indexOf("--seconds");
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;

interface Row { setup: string; tcpUpGbps: number; tcpDownGbps: number; tcp4UpGbps: number; pingP50Ms: number }

function iperf(t: Topology, args: string[]): number {
  const j = JSON.parse(t.exec(t.lan, ["iperf3", "-c", "10.0.0.2", "-t", String(SECONDS), "-J", ...args], { timeout: (SECONDS + 30) * 1000 }));
  return j.end.sum_received.bits_per_second / 1e9;
}

function pingP50(t: Topology): number {
  const out = t.exec(t.lan, ["ping", "-c", "50", "-i", "0.02", "10.0.0.2"]);
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function measure(t: Topology, setup: string): Row {
  t.exec(t.lan, ["ping", "-c", "2", "-i", "0.2", "10.0.0.2"]); // warm up: flows exist, JIT is warm
  const r = { setup, tcpUpGbps: iperf(t, []), tcpDownGbps: iperf(t, ["-R"]), tcp4UpGbps: iperf(t, ["-P", "4"]), pingP50Ms: pingP50(t) };
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

async function main(): Promise<void> {
  const t = makeTopology("bench");
  const rows: Row[] = [];
  try {
    t.spawn(t.wan, ["iperf3", "-s"]);
    await new Promise((r) => setTimeout(r, 500));
    // the kernel: nftables masquerade
    t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    t.exec(t.gw, ["nft", "-f", "-"], { input: "table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname \"eth0\" ip saddr 192.168.0.0/24 masquerade\n }\n}\n" });
    rows.push(measure(t, "kernel nftables masquerade"));
    t.exec(t.gw, ["nft", "delete", "table", "ip", "nat"]);
    t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    const config = writeConfig(t);
    for (const core of ["wasm", "ts"]) {
      for (const workers of [1, 2]) {
        const g = await startGateway(t, ["--config", config, "--core", core, "--workers", String(workers)], join(t.dir, "state"));
        try { rows.push(measure(t, `ipmasq --core ${core} --workers ${workers}`)); } finally { g.proc.kill("SIGTERM"); await waitExit(g.proc); }
      }
    }
  } finally {
    t.destroy();
  }
  const k = rows[0];
  console.log(`end-to-end, iperf3 ${SECONDS} s per case, lan -> gw -> wan namespaces on this machine\n`);
  console.log("| setup | TCP up Gbit/s | TCP down Gbit/s | TCP up 4 streams | ping p50 ms | up vs kernel | down vs kernel |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(`| ${r.setup} | ${r.tcpUpGbps.toFixed(2)} | ${r.tcpDownGbps.toFixed(2)} | ${r.tcp4UpGbps.toFixed(2)} | ${r.pingP50Ms.toFixed(3)} | ${(r.tcpUpGbps / k.tcpUpGbps).toFixed(2)} | ${(r.tcpDownGbps / k.tcpDownGbps).toFixed(2)} |`);
  }
  mkdirSync(join(__dirname, "results"), { recursive: true });
  writeFileSync(join(__dirname, "results", "e2e.json"), JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, rows }, null, 1) + "\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
