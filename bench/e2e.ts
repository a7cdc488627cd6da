// End-to-end benchmark: ipmasq (WASM and TS cores, 1 and 2 workers) against the kernel's own
// nftables masquerade, in the same three-namespace topology, measured in one run.
// Prints a markdown table with ratios to the kernel, writes bench/results/e2e.json and e2e.svg.
//   npm run bench:e2e [-- --seconds 5] [-- --quick]
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  until,
  type Topology,
} from "../harness/topology";
import { barChart } from "./chart";
import { kernelMasquerade, setReceiveOffload } from "./kernel-nat";
import { requirePeers, wrote } from "./peers";
import { arg } from "./args";

const SECONDS = Number(arg("--seconds") ?? 5);
const QUICK = process.argv.includes("--quick");
const PEERS = join(__dirname, "..", "tests", "peers");

export interface Row {
  setup: string;
  tcp1Up: number;
  tcp1Down: number;
  tcp4Up: number;
  tcp4Down: number; // Gbit/s
  udp64Kpps: number;
  udp1400Kpps: number; // highest rate with zero loss, thousands of packets/s
  connPerSec: number;
  pingP50: number;
  pingP99: number; // ms
}

function iperfTcp(t: Topology, args: string[]): number {
  const j = JSON.parse(
    t.exec(t.lan, ["iperf3", "-c", "10.0.0.2", "-t", String(SECONDS), "-J", ...args], {
      timeout: (SECONDS + 30) * 1000,
    }),
  );
  return j.end.sum_received.bits_per_second / 1e9;
}

// Zero-loss UDP rate by bisection on the offered packet rate (iperf3 -u, 2 s per probe). A probe
// passes when nothing is lost and the sender really offered the rate (iperf3's -b counts payload
// bits, so it is asked for pps * payload * 8); the figure is packets of `size` bytes (IP) per second.
function udpZeroLoss(t: Topology, size: number): number {
  const payload = size - 28;
  let lo = 0,
    hi = 400_000; // packets/s
  for (let step = 0; step < (QUICK ? 6 : 9); step++) {
    const pps = Math.round((lo + hi) / 2);
    // -w: socket buffers large enough that the receiving iperf3 is not what loses packets
    let lost = 1,
      got = 0;
    try {
      const j = JSON.parse(
        t.exec(
          t.lan,
          [
            "iperf3",
            "-c",
            "10.0.0.2",
            "-u",
            "-w",
            "4M",
            "-l",
            String(payload),
            "-b",
            String(pps * payload * 8),
            "-t",
            "2",
            "-J",
          ],
          { timeout: 20_000 },
        ),
      );
      lost = j.end.sum?.lost_packets ?? 1;
      got = j.end.sum?.packets ?? 0;
    } catch {
      // iperf3 gave up (its results never came back): count the probe as lossy
    }
    if (lost === 0 && got >= pps * 2 * 0.95) lo = pps;
    else hi = pps;
  }
  return lo / 1000;
}

function ping(t: Topology): [number, number] {
  const out = t.exec(t.lan, ["ping", "-c", QUICK ? "50" : "200", "-i", "0.005", "10.0.0.2"]);
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return [times[Math.floor(times.length * 0.5)], times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]];
}

function measure(t: Topology, setup: string): Row {
  t.exec(t.lan, ["ping", "-c", "2", "-i", "0.2", "10.0.0.2"]); // warm up: JIT, first flows
  const [p50, p99] = ping(t);
  const conns = JSON.parse(
    t.exec(
      t.lan,
      [process.execPath, join(PEERS, "conn-rate.js"), "10.0.0.2", "9000", String(QUICK ? 2 : SECONDS), "32"],
      { timeout: 60_000 },
    ),
  );
  const r: Row = {
    setup,
    tcp1Up: iperfTcp(t, []),
    tcp1Down: iperfTcp(t, ["-R"]),
    tcp4Up: iperfTcp(t, ["-P", "4"]),
    tcp4Down: iperfTcp(t, ["-P", "4", "-R"]),
    udp64Kpps: udpZeroLoss(t, 64),
    udp1400Kpps: udpZeroLoss(t, 1400),
    connPerSec: conns.perSecond,
    pingP50: p50,
    pingP99: p99,
  };
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

const COLUMNS: Array<[keyof Row, string, number]> = [
  ["tcp1Up", "TCP 1 up Gbit/s", 2],
  ["tcp1Down", "TCP 1 down", 2],
  ["tcp4Up", "TCP 4 up", 2],
  ["tcp4Down", "TCP 4 down", 2],
  ["udp64Kpps", "UDP 64 B kpps", 0],
  ["udp1400Kpps", "UDP 1400 B kpps", 0],
  ["connPerSec", "new TCP conn/s", 0],
  ["pingP50", "ping p50 ms", 3],
  ["pingP99", "ping p99 ms", 3],
];

const isKernel = (r: Row): boolean => r.setup.startsWith("kernel");

// The kernel's best figure of a column over its rows (with and without receive offload).
function kernelBest(rows: Row[], key: keyof Row): number {
  const values = rows.filter(isKernel).map((r) => r[key] as number);
  return key.startsWith("ping") ? Math.min(...values) : Math.max(...values);
}

export function markdown(rows: Row[]): string {
  const head = `| setup | ${COLUMNS.map((c) => c[1]).join(" | ")} |\n|---|${COLUMNS.map(() => "---:").join("|")}|`;
  const lines = rows.map(
    (r) => `| ${r.setup} | ${COLUMNS.map(([key, , d]) => (r[key] as number).toFixed(d)).join(" | ")} |`,
  );
  const ratios = rows
    .filter((r) => !isKernel(r))
    .map(
      (r) =>
        `| ${r.setup} / kernel | ${COLUMNS.map(([key]) => {
          const x = (r[key] as number) / kernelBest(rows, key);
          return `${(key.startsWith("ping") ? 1 / x : x).toFixed(2)}`;
        }).join(" | ")} |`,
    );
  return `${[head, ...lines, ...ratios].join("\n")}\n\n(ratios to the kernel's better row in each column; higher is better for ipmasq; for ping the ratio is kernel latency / ipmasq latency)\n`;
}

async function main(): Promise<void> {
  requirePeers([
    ["ip", "iproute2"],
    ["nft", "nftables"],
    ["iperf3", "iperf3"],
    ["ethtool", "ethtool"],
    ["ping", "iputils-ping"],
  ]);
  const t = makeTopology("bench");
  const rows: Row[] = [];
  try {
    t.spawn(t.wan, ["iperf3", "-s"]);
    await waitListening(t.spawn(t.wan, [process.execPath, join(PEERS, "tcp-many.js"), "server", "9000"]));
    await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
    kernelMasquerade(t, true);
    rows.push(measure(t, "kernel nftables masquerade"));
    const was = setReceiveOffload(t);
    rows.push(measure(t, `kernel nftables, receive offload as ipmasq's`));
    setReceiveOffload(t, was);
    kernelMasquerade(t, false);
    const config = writeConfig(t);
    for (const core of ["wasm", "ts"]) {
      for (const workers of [1, 2]) {
        const g = await startGateway(
          t,
          ["--config", config, "--core", core, "--workers", String(workers), "--max-conns", "262144"],
          join(t.dir, "state"),
        );
        try {
          rows.push(measure(t, `ipmasq ${core} w${workers}`));
        } finally {
          g.proc.kill("SIGTERM");
          await waitExit(g.proc);
        }
      }
    }
  } finally {
    t.destroy();
  }
  const md = markdown(rows);
  console.log(
    `end-to-end: lan -> gw -> wan namespaces on this machine (${process.arch}), iperf3 ${SECONDS} s per TCP case\n`,
  );
  console.log(md);
  const RESULTS = join(__dirname, "..", "bench", "results"); // from bench/ or from the bundle in build/
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, "e2e.json"),
    `${JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, rows }, null, 1)}\n`,
  );
  writeFileSync(join(RESULTS, "e2e.md"), md);
  writeFileSync(
    join(RESULTS, "e2e.svg"),
    barChart(
      "ipmasq vs kernel nftables masquerade (ratio to the kernel, higher is better)",
      COLUMNS.filter(([k]) => !k.startsWith("ping")).map(([key, label]) => ({
        label,
        values: rows
          .filter((r) => !isKernel(r))
          .map((r) => ({ name: r.setup, value: (r[key] as number) / kernelBest(rows, key) })),
      })),
    ),
  );
  wrote(["e2e.json", "e2e.md", "e2e.svg"].map((f) => join(RESULTS, f)));
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
