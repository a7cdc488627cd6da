// What batching the TUN's system calls (io_uring: multishot reads, batched writes) could save
// the gateway at most, measured before it is built. At paced loads through ipmasq (defaults): the
// gateway's system calls a second by kind and its context switches (perf's tracepoints, which
// work where its cycle counters do not), its own CPU, and TUN reads; and, from a C loop on this
// kernel, what a system call's entry and exit cost. Their product is the most that making every
// call free could save; the copies and the forwarding a call does stay with any interface.
// Writes bench/results/syscalls.md.
//   npm run bench:syscalls [-- --seconds 3]
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, until, sleep, type Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { processSeconds } from "./cpu-time";
import { gatewayStatus } from "./gateway-status";
import { arg } from "./args";

const SECONDS = Number(arg("--seconds") ?? 3);

const LOADS: Array<{ name: string; args: string[] }> = [
  { name: "TCP 1 × 1 Gbit/s", args: ["-b", "1G"] },
  { name: "TCP 1 × 3 Gbit/s", args: ["-b", "3G"] },
  { name: "UDP 64 B 50 kpps", args: ["-u", "-w", "4M", "-l", "36", "-b", String(50_000 * 36 * 8)] },
  { name: "UDP 64 B 100 kpps", args: ["-u", "-w", "4M", "-l", "36", "-b", String(100_000 * 36 * 8)] },
  { name: "UDP 1400 B 50 kpps", args: ["-u", "-w", "4M", "-l", "1372", "-b", String(50_000 * 1372 * 8)] },
];
const EVENTS = [
  "raw_syscalls:sys_enter",
  "syscalls:sys_enter_read",
  "syscalls:sys_enter_write",
  "syscalls:sys_enter_poll",
  "syscalls:sys_enter_ppoll",
  "sched:sched_switch",
];

function syscallCost(t: Topology, dir: string): { getppid: number; readEagain: number } {
  const binary = join(dir, "syscall-cost");
  execFileSync("gcc", ["-O2", "-o", binary, join(__dirname, "reference", "syscall-cost.c")]);
  const out = t.exec(t.gw, [binary, "sysc0"], { timeout: 120_000 });
  const m = /getppid ([\d.]+) read_eagain ([\d.]+)/.exec(out);
  if (!m) throw new Error(`syscall-cost printed: ${out}`);
  return { getppid: Number(m[1]), readEagain: Number(m[2]) };
}

interface Row {
  load: string;
  cpu: number;
  perSecond: Record<string, number>;
  reads: number;
}

async function measure(t: Topology, pid: number, state: string, load: { name: string; args: string[] }): Promise<Row> {
  const reads = async (): Promise<number> => (await gatewayStatus(state)).workers.reduce((n, w) => n + w.reads, 0);
  const client: ChildProcess = t.spawn(t.lan, ["iperf3", "-c", "10.0.0.2", "-t", String(SECONDS + 3), ...load.args]);
  try {
    await sleep(1500); // past the start, and the receive hold engaged
    const r0 = await reads(),
      c0 = processSeconds(pid);
    const perf = spawnSync(
      "perf",
      ["stat", "-x", ",", "-e", EVENTS.join(","), "-p", String(pid), "--", "sleep", String(SECONDS)],
      { encoding: "utf8" },
    );
    const r1 = await reads(),
      c1 = processSeconds(pid);
    const perSecond: Record<string, number> = {};
    for (const line of perf.stderr.split("\n")) {
      const [count, , event] = line.split(",");
      if (event && EVENTS.includes(event)) perSecond[event.split(":")[1]] = (Number(count) || 0) / SECONDS; // "<not counted>": none
    }
    if (Object.keys(perSecond).length !== EVENTS.length)
      throw new Error(`perf stat counted no tracepoints: ${perf.stderr}`);
    return { load: load.name, cpu: (c1 - c0) / SECONDS, perSecond, reads: (r1 - r0) / SECONDS };
  } finally {
    // to its end: an iperf3 client killed mid-test leaves its server busy with that test
    await new Promise<void>((resolve) => {
      client.on("exit", () => resolve());
      if (client.exitCode !== null) resolve();
    });
  }
}

async function main(): Promise<void> {
  requirePeers([
    ["perf", "linux-perf"],
    ["iperf3", "iperf3"],
    ["gcc", "gcc"],
  ]);
  const t = makeTopology("sys");
  const scratch = mkdtempSync(join(tmpdir(), "ipmasq-syscalls-"));
  const rows: Row[] = [];
  let cost = { getppid: 0, readEagain: 0 };
  try {
    cost = syscallCost(t, scratch);
    t.spawn(t.wan, ["iperf3", "-s"]);
    await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
    const state = join(t.dir, "state");
    const g = await startGateway(t, ["--config", writeConfig(t)], state);
    try {
      for (const load of LOADS) {
        const row = await measure(t, g.proc.pid!, state, load);
        process.stderr.write(`${JSON.stringify(row)}\n`);
        rows.push(row);
      }
    } finally {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  } finally {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
  const f = (n: number, d = 0): string =>
    n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const md = `${[
    `System calls of the gateway (ipmasq, defaults: 2 workers) at paced loads, x64, perf stat tracepoints over ${SECONDS} s after 1.5 s of the load. ` +
      `A system call's entry and exit on this kernel: ${f(cost.getppid)} ns (getppid); a read of an empty TUN queue (EAGAIN, how each batch ends): ${f(cost.readEagain)} ns. ` +
      "*At most saved*: every call's entry and exit (getppid's cost) as a share of the process's CPU — what io_uring could save if it made every call free; the copies and the forwarding each call does stay.",
    "",
    "| load | process CPU, cores | TUN reads/s | system calls/s | read | write | poll | context switches/s | calls per TUN read | at most saved |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const p = r.perSecond,
        polls = p.sys_enter_poll + p.sys_enter_ppoll;
      const saved = (p.sys_enter * cost.getppid) / 1e9 / r.cpu;
      return `| ${r.load} | ${f(r.cpu, 2)} | ${f(r.reads)} | ${f(p.sys_enter)} | ${f(p.sys_enter_read)} | ${f(p.sys_enter_write)} | ${f(polls)} | ${f(p.sched_switch)} | ${f(p.sys_enter / Math.max(1, r.reads), 1)} | ${f(100 * saved, 1)} % |`;
    }),
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "syscalls.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
