// Scaling across queues (#15 item 4): does pinning the workers to CPUs, or steering the
// interfaces' receive softirqs (RPS) away from them, help — and how many workers to run on this
// machine? For 1 worker, 2 and one per CPU (if more): the workers as the scheduler places them,
// each pinned to a CPU of its own (--pin on), and pinned with the LAN and WAN interfaces' receive
// work steered to the other CPUs. Raw TCP 1 and 4 streams (what
// gets through) and TCP 4 × 0.75 Gbit/s paced (what it costs: the gateway's CPU and the whole
// machine's busy time), interleaved, median of --reps. Run it on the board that will carry the
// traffic: the answer depends on its cores. Writes bench/results/pinning.md.
//   npm run bench:pinning [-- --reps 3] [-- --seconds 4]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, until, sleep, type Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { CPUS, busySeconds, processSeconds } from "./cpu-time";
import { median } from "./stats";
import { arg } from "./args";

const REPS = Number(arg("--reps") ?? 3);
const SECONDS = Number(arg("--seconds") ?? 4);

const LOADS: Array<{ name: string; args: string[]; paced?: boolean }> = [
  { name: "TCP 1 stream, Gbit/s", args: [] },
  { name: "TCP 4 streams, Gbit/s", args: ["-P", "4"] },
  { name: "TCP 4 × 0.75 Gbit/s", args: ["-P", "4", "-b", "750M"], paced: true },
];
type Layout = "scheduler" | "pinned" | "pinned, RPS elsewhere";
const LAYOUTS: Layout[] = ["scheduler", "pinned", "pinned, RPS elsewhere"];
const WORKERS = [...new Set([1, 2, CPUS])];

const mask = (cpuList: number[]): string => cpuList.reduce((m, c) => m | (1 << c), 0).toString(16);

// With RPS: the interfaces' receive work on the CPUs no worker has (--pin on puts worker N on CPU N).
function steerReceive(t: Topology, workers: number, layout: Layout): void {
  const free = Array.from({ length: CPUS }, (_, c) => c).filter((c) => c >= workers);
  const value = layout === "pinned, RPS elsewhere" ? mask(free.length ? free : [CPUS - 1]) : "0"; // every CPU has a worker: the last one
  for (const dev of ["eth0", "eth1"])
    t.exec(t.gw, ["sh", "-c", `echo ${value} > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
}

interface Sample {
  value: number;
  gwCpu: number;
  busy: number;
}

function iperf(t: Topology, args: string[]): number {
  try {
    const j = JSON.parse(
      t.exec(t.lan, ["iperf3", "-c", "10.0.0.2", "-t", String(SECONDS), "-J", ...args], {
        timeout: (SECONDS + 15) * 1000,
      }),
    );
    return j.end.sum_received.bits_per_second / 1e9;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  requirePeers([["iperf3", "iperf3"]]);
  const t = makeTopology("pin");
  const samples = new Map<string, Sample[]>();
  try {
    t.spawn(t.wan, ["iperf3", "-s"]);
    await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
    for (let rep = 0; rep < REPS; rep++) {
      for (const workers of WORKERS) {
        for (const layout of LAYOUTS) {
          const g = await startGateway(
            t,
            ["--config", writeConfig(t), "--workers", String(workers), "--pin", layout === "scheduler" ? "off" : "on"],
            join(t.dir, "state"),
          );
          try {
            const pid = g.proc.pid!;
            steerReceive(t, workers, layout);
            for (const load of LOADS) {
              const b0 = busySeconds(),
                g0 = processSeconds(pid);
              const value = iperf(t, load.args);
              const s = { value, gwCpu: (processSeconds(pid) - g0) / SECONDS, busy: (busySeconds() - b0) / SECONDS };
              const key = `${workers}|${layout}|${load.name}`;
              samples.set(key, [...(samples.get(key) ?? []), s]);
              process.stderr.write(`${key}: ${JSON.stringify(s)}\n`);
              await sleep(300);
            }
          } finally {
            g.proc.kill("SIGTERM");
            await waitExit(g.proc);
          }
        }
      }
    }
  } finally {
    t.destroy();
  }
  const cell = (key: string, f: (s: Sample) => number, d: number): string =>
    median((samples.get(key) ?? []).map(f)).toFixed(d);
  const md = `${[
    `Workers, pinning and receive steering (x64, ${CPUS} CPUs; iperf3 LAN → WAN through ipmasq, ${SECONDS} s each, median of ${REPS} interleaved repetitions). ` +
      "*pinned*: worker N on CPU N (--pin on); *RPS elsewhere*: the LAN and WAN interfaces' receive work (rps_cpus) on the CPUs without a worker " +
      "(the last CPU where every CPU has one). Paced: the gateway process's CPU and the whole machine's busy time, in cores.",
    "",
    "| workers | layout | TCP 1 stream, Gbit/s | TCP 4 streams, Gbit/s | TCP 4 × 0.75 Gbit/s: gateway cores | machine cores |",
    "|---:|---|---:|---:|---:|---:|",
    ...WORKERS.flatMap((w) =>
      LAYOUTS.map((l) => {
        const k = (load: string): string => `${w}|${l}|${load}`;
        return `| ${w} | ${l} | ${cell(k(LOADS[0].name), (s) => s.value, 1)} | ${cell(k(LOADS[1].name), (s) => s.value, 1)} | ${cell(k(LOADS[2].name), (s) => s.gwCpu, 2)} | ${cell(k(LOADS[2].name), (s) => s.busy, 2)} |`;
      }),
    ),
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "pinning.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
