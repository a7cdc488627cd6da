// Raw throughput of ipmasq against the C reference forwarder on the same TUN setup
// (bench/reference/), and optionally against an earlier build of ipmasq (a regression check):
// iperf3 TCP 1 and 4 streams both ways, and UDP 64 B at a fixed 150 kpps (what arrives), over
// IPv4 (masqueraded) and IPv6 (routed), in one run, interleaved, median of --reps. Writes
// bench/results/versus-c.md.
//   npm run bench:vs-c [-- --reps 3] [-- --seconds 4] [-- --before DIR/ipmasq.js] [-- --cases NAME,NAME]
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTopology, writeConfig, waitExit, until, WAN6, type Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { median } from "./stats";
import { buildReference, startReference } from "./reference/reference";
import { BUNDLE } from "../harness/ipmasq-cli";
import { arg } from "./args";

const REPS = Number(arg("--reps") ?? 3);
const SECONDS = Number(arg("--seconds") ?? 4);
const BEFORE = arg("--before");
const CASE_FILTER = arg("--cases")?.split(","); // only the cases whose name has one of these

// [name, the WAN host's address, iperf3 arguments]
const CASES: Array<[string, string, string[]]> = [
  ["TCP 1 up Gbit/s", "10.0.0.2", []],
  ["TCP 1 down", "10.0.0.2", ["-R"]],
  ["TCP 4 up", "10.0.0.2", ["-P", "4"]],
  ["TCP 4 down", "10.0.0.2", ["-P", "4", "-R"]],
  ["UDP 64 B at 150 kpps, kpps arriving", "10.0.0.2", ["-u", "-w", "4M", "-l", "36", "-b", String(150_000 * 36 * 8)]],
  ["IPv6 TCP 1 up", WAN6, []],
  ["IPv6 TCP 1 down", WAN6, ["-R"]],
  ["IPv6 UDP 64 B at 150 kpps", WAN6, ["-u", "-w", "4M", "-l", "16", "-b", String(150_000 * 16 * 8)]],
];

const RUN = CASE_FILTER ? CASES.filter(([name]) => CASE_FILTER.some((f) => name.includes(f))) : CASES;

// A data path in the gateway namespace: started, then `stop()`.
type Path = { name: string; start(): Promise<ChildProcess> };

function ipmasqPath(t: Topology, name: string, bundle: string): Path {
  return {
    name,
    async start() {
      const p = t.spawn(t.gw, [
        process.execPath,
        bundle,
        "run",
        "--config",
        writeConfig(t),
        "--state-dir",
        join(t.dir, "state"),
      ]);
      let out = "";
      p.stdout!.on("data", (d) => {
        out += d;
      });
      await until(() => out.includes("ready\n"), 30_000);
      return p;
    },
  };
}

function cPath(t: Topology, binary: string): Path {
  return {
    name: "C reference forwarder",
    async start() {
      return (await startReference(t, binary)).proc;
    },
  };
}

function run(t: Topology, target: string, args: string[]): number {
  try {
    const j = JSON.parse(
      t.exec(t.lan, ["iperf3", "-c", target, "-t", String(SECONDS), "-J", ...args], {
        timeout: (SECONDS + 15) * 1000,
      }),
    );
    if (args.includes("-u")) return (j.end.sum.packets - j.end.sum.lost_packets) / SECONDS / 1000;
    return j.end.sum_received.bits_per_second / 1e9;
  } catch {
    return NaN; // iperf3 now and then never returns a UDP test's results
  }
}

async function main(): Promise<void> {
  requirePeers([
    ["iperf3", "iperf3"],
    ["gcc", "gcc"],
  ]);
  const scratch = mkdtempSync(join(tmpdir(), "ipmasq-vs-c-"));
  const binary = buildReference(scratch);
  const t = makeTopology("vsc", { ipv6: true });
  const paths = [
    ipmasqPath(t, "ipmasq (this tree)", BUNDLE),
    cPath(t, binary),
    ...(BEFORE ? [ipmasqPath(t, "ipmasq (before)", BEFORE)] : []),
  ];
  const values = paths.map(() => RUN.map(() => [] as number[]));
  let server: ChildProcess | undefined;
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const [pi, path] of paths.entries()) {
        const p = await path.start();
        try {
          for (const [ci, [, target, args]] of RUN.entries()) {
            if (!server || server.exitCode !== null) {
              server = t.spawn(t.wan, ["iperf3", "-s"]);
              await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
            }
            const v = run(t, target, args);
            if (Number.isNaN(v)) {
              server.kill("SIGKILL");
              server = undefined;
              await new Promise((r) => setTimeout(r, 300));
              continue;
            }
            values[pi][ci].push(v);
            process.stderr.write(`rep ${rep + 1} ${path.name} | ${RUN[ci][0]}: ${v.toFixed(2)}\n`);
          }
        } finally {
          p.kill("SIGTERM");
          await waitExit(p);
        }
      }
    }
  } finally {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
  const rows = paths.map((p, pi) => ({ name: p.name, v: RUN.map((_, ci) => median(values[pi][ci])) }));
  const md = `${[
    `raw throughput through the gateway namespace (${process.arch}, median of ${REPS} interleaved runs of ${SECONDS} s; 2 workers / 2 queues each)`,
    "",
    `| setup | ${RUN.map((c) => c[0]).join(" | ")} |`,
    `|---|${RUN.map(() => "---:").join("|")}|`,
    ...rows.map((r) => `| ${r.name} | ${r.v.map((x) => x.toFixed(2)).join(" | ")} |`),
    `| ipmasq ÷ C | ${rows[0].v.map((x, i) => (x / rows[1].v[i]).toFixed(2)).join(" | ")} |`,
    ...(rows[2] ? [`| ipmasq ÷ before | ${rows[0].v.map((x, i) => (x / rows[2].v[i]).toFixed(2)).join(" | ")} |`] : []),
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "versus-c.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
