// Latency through the gateway and what adaptive polling costs (`--busy-poll US`): ping p50/p99
// through the kernel's nftables masquerade and through ipmasq with busy-poll off and on, on an
// idle gateway and under a paced 1 Gbit/s TCP stream; and the gateway's CPU while idle (30 s
// after traffic), and the C reference forwarder on ipmasq's own TUN setup (bench/reference/: what
// the design itself adds, with no Node in the way). In one run, same topology. Writes
// bench/results/latency.md.
//   npm run bench:latency [-- --polls 0,25,50,100] [-- --idle-seconds 30] [-- --workers N]
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildProcess } from "node:child_process";
import { makeTopology, writeConfig, startGateway, waitExit, until, Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { kernelMasquerade } from "./kernel-nat";
import { buildReference, startReference } from "./reference/reference";

const arg = (name: string): string | undefined => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const POLLS = (arg("--polls") ?? "0,25,50,100,200").split(",").map(Number);
const IDLE_SECONDS = Number(arg("--idle-seconds") ?? 30);
const WORKERS = arg("--workers"); // default: the gateway's own
const TICKS = 100; // USER_HZ

interface Row { setup: string; idleP50: number; idleP99: number; loadP50: number; loadP99: number; idleCpu?: number }

function ping(t: Topology): [number, number] {
  const out = t.exec(t.lan, ["ping", "-c", "400", "-i", "0.005", "10.0.0.2"]);
  const ms = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return [ms[Math.floor(ms.length * 0.5)] * 1000, ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))] * 1000]; // µs
}

async function measure(t: Topology, setup: string, pid?: number): Promise<Row> {
  t.exec(t.lan, ["ping", "-c", "3", "-i", "0.2", "10.0.0.2"]); // warm up
  const [idleP50, idleP99] = ping(t);
  const load: ChildProcess = t.spawn(t.lan, ["iperf3", "-c", "10.0.0.2", "-b", "1G", "-t", "8"]);
  await new Promise((r) => setTimeout(r, 1500));
  const [loadP50, loadP99] = ping(t);
  await new Promise<void>((resolve) => { load.on("exit", () => resolve()); if (load.exitCode !== null) resolve(); });
  let idleCpu: number | undefined;
  if (pid) {
    await new Promise((r) => setTimeout(r, 2000));
    // the process and its children (the C reference runs under a wrapper)
    const ticks = (p = pid): number => {
      const f = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      return Number(f[11]) + Number(f[12]) + kids.reduce((n, k) => n + ticks(k), 0);
    };
    const t0 = ticks();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    idleCpu = (100 * (ticks() - t0)) / TICKS / IDLE_SECONDS;
  }
  const row = { setup, idleP50, idleP99, loadP50, loadP99, idleCpu };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

async function main(): Promise<void> {
  requirePeers([["nft", "nftables"], ["iperf3", "iperf3"], ["ping", "iputils-ping"], ["gcc", "gcc"]]);
  const t = makeTopology("lat");
  const scratch = mkdtempSync(join(tmpdir(), "ipmasq-latency-"));
  const rows: Row[] = [];
  try {
    const binary = buildReference(scratch);
    t.spawn(t.wan, ["iperf3", "-s"]);
    await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
    kernelMasquerade(t, true);
    rows.push(await measure(t, "kernel nftables masquerade"));
    kernelMasquerade(t, false);
    for (const us of POLLS) {
      const g = await startGateway(t, ["--config", writeConfig(t), "--busy-poll", String(us), ...(WORKERS ? ["--workers", WORKERS] : [])], join(t.dir, "state"));
      try { rows.push(await measure(t, `ipmasq${WORKERS ? ` w${WORKERS}` : ""}, --busy-poll ${us}`, g.proc.pid)); } finally { g.proc.kill("SIGTERM"); await waitExit(g.proc); }
    }
    const ref = (await startReference(t, binary, Number(WORKERS ?? 2))).proc;
    try { rows.push(await measure(t, `C reference forwarder${WORKERS ? ` w${WORKERS}` : ""}`, ref.pid)); } finally { ref.kill("SIGTERM"); await waitExit(ref); }
  } finally {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
  const k = rows[0];
  const fmt = (n: number | undefined, d = 0): string => (n === undefined ? "—" : n.toFixed(d));
  const md = [
    `latency through the gateway (x64, ping -i 0.005 x 400; under load: iperf3 -b 1G alongside; idle CPU over ${IDLE_SECONDS} s after the load)`, "",
    "| setup | idle p50 µs | idle p99 µs | 1 Gbit/s p50 µs | 1 Gbit/s p99 µs | added p50 (idle / load) µs | idle CPU % of a core |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.setup} | ${fmt(r.idleP50)} | ${fmt(r.idleP99)} | ${fmt(r.loadP50)} | ${fmt(r.loadP99)} | ${r === k ? "—" : `${fmt(r.idleP50 - k.idleP50)} / ${fmt(r.loadP50 - k.loadP50)}`} | ${fmt(r.idleCpu, 2)} |`),
  ].join("\n") + "\n";
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "latency.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => { console.error(e); process.exit(1); });
