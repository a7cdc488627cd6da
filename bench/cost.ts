// What carrying traffic costs the gateway: CPU per byte and per packet at fixed loads that every
// setup can carry, not the highest rate. Same three namespaces; in one run, interleaved:
//   endpoints only     the same load between the LAN and WAN hosts over a direct link: what the
//                      senders and receivers themselves cost, subtracted from every other row
//   kernel forwarding  plain routing through gw, no NAT
//   kernel nftables    masquerade, with the machine's receive offload and with ipmasq's
//   ipmasq wasm / ts   the gateway with its defaults (2 workers), the WASM core and the TS core
//   C reference        bench/reference/forwarder.c on ipmasq's own TUN setup and wiring
// Loads: TCP 1 and 4 streams at 1, 3 and 6 Gbit/s; UDP 64 B and 1400 B at 50, 100 and 150 kpps,
// LAN to WAN; over IPv6 (routed: the kernel rows filter it statefully with nftables, ct state
// established), TCP 1 stream at 1 and 3 Gbit/s and UDP 64 B at 100 kpps. CPU is the machine's busy time (/proc/stat: elapsed minus idle), in cycles at the
// nominal clock (perf's cycle counters are not available on this VM).
// Each figure is the median of --reps repetitions (interquartile range beside it), each measured
// after the load has run for a second (the steady state).
// Writes bench/results/cost.md, cost.json and cost.svg.
//   npm run bench:cost [-- --reps 5] [-- --seconds 4] [-- --quick] [-- --only NAME] [-- --loads NAME]
//                      [-- --variants "--gro-hold 0;--gro-hold 200"] [-- --out NAME]
import { execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  until,
  sleep,
  WAN6,
  type Topology,
} from "../harness/topology";
import { kernelMasquerade, setReceiveOffload } from "./kernel-nat";
import { buildReference, startReference } from "./reference/reference";
import { barChart } from "./chart";
import { requirePeers, wrote } from "./peers";
import { gatewayStatus } from "./gateway-status";
import { CPUS, busySeconds, processSeconds } from "./cpu-time";
import { arg } from "./args";
import { median, iqr } from "./stats";

const QUICK = process.argv.includes("--quick");
const REPS = Number(arg("--reps") ?? (QUICK ? 2 : 5));
const SECONDS = Number(arg("--seconds") ?? (QUICK ? 2 : 4));
const ONLY = arg("--only"); // only the setups whose name has this (and the endpoints', always)
// only the loads whose name has one of these, ","-separated ("UDP", "TCP 4,IPv6", …)
const LOAD_FILTER = arg("--loads")?.split(",");
// more ipmasq rows with other options, ";"-separated ("--gro-hold 0;--gro-hold 200"): a setting
// measured against the default in the same run
const VARIANTS = (arg("--variants") ?? "")
  .split(";")
  .map((v) => v.trim())
  .filter(Boolean);
const OUT = arg("--out") ?? "cost"; // bench/results/OUT.md, .json, .svg
const MSS = 1448; // TCP payload per segment on a 1500-byte path with timestamps

interface Load {
  name: string;
  args: string[];
  udpSize?: number;
  ipv6?: boolean;
}
const ALL_LOADS: Load[] = [
  ...[1, 3, 6].map((g) => ({ name: `TCP 1 × ${g} Gbit/s`, args: ["-b", `${g}G`] })),
  ...[1, 3, 6].map((g) => ({ name: `TCP 4 × ${g / 4} Gbit/s`, args: ["-P", "4", "-b", `${(g * 1000) / 4}M`] })),
  ...[64, 1400].flatMap((size) =>
    [50, 100, 150].map((k) => ({
      name: `UDP ${size} B ${k} kpps`,
      udpSize: size,
      // iperf3's -b counts payload bits; -w: socket buffers large enough that the receiver keeps up
      args: ["-u", "-w", "4M", "-l", String(size - 28), "-b", String(k * 1000 * (size - 28) * 8)],
    })),
  ),
  ...[1, 3].map((g) => ({ name: `IPv6 TCP 1 × ${g} Gbit/s`, args: ["-b", `${g}G`], ipv6: true })),
  {
    name: "IPv6 UDP 64 B 100 kpps",
    udpSize: 64,
    ipv6: true,
    args: ["-u", "-w", "4M", "-l", String(64 - 48), "-b", String(100_000 * (64 - 48) * 8)],
  },
];

const LOADS = ALL_LOADS.filter((l) => !LOAD_FILTER || LOAD_FILTER.some((f) => l.name.includes(f)));

interface Sample {
  busy: number;
  gwCpu?: number;
  bytes: number;
  packets: number;
  superPacket?: number;
} // busy, gwCpu: CPU seconds
interface Setup {
  name: string;
  target: string; // the WAN host's address as the LAN host reaches it
  target6: string; // the same over IPv6
  start(): Promise<void>;
  stop(): Promise<void>;
  pid?(): number | undefined; // the gateway process, for its own CPU
  counters?(): Promise<{ bytes: number; reads: number }>; // what the data path carried: IP bytes, TUN reads
}

const clockHz = (): number => {
  const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return m ? Number(m[1]) * 1e6 : 1e9;
};

// The iperf3 server in the WAN namespace; started again when a run went wrong (iperf3 now and then
// never sends a UDP test's results back, and its server stays busy with that test).
let server: ChildProcess | undefined;
async function startServer(t: Topology): Promise<void> {
  if (server) {
    server.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
  }
  server = t.spawn(t.wan, ["iperf3", "-s"]);
  await until(() => t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
}

async function runLoad(t: Topology, s: Setup, load: Load): Promise<Sample> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runOnce(t, s, load);
    } catch (e) {
      process.stderr.write(
        `${s.name} | ${load.name}: iperf3 failed (${(e as Error).message.split("\n")[0]}); ${attempt < 3 ? "again" : "giving up on this one"}\n`,
      );
      await startServer(t);
      if (attempt === 3) return { busy: NaN, bytes: NaN, packets: NaN };
    }
  }
}

// The load runs WARM_UP_SECONDS before it is measured (iperf3 omits them too): the steady state
// at a fixed load, after the flow is set up and the receive hold engaged.
const WARM_UP_SECONDS = 1;

async function runOnce(t: Topology, s: Setup, load: Load): Promise<Sample> {
  const pid = s.pid?.();
  const client = t.spawn(t.lan, [
    "iperf3",
    "-c",
    load.ipv6 ? s.target6 : s.target,
    "-t",
    String(SECONDS),
    "-O",
    String(WARM_UP_SECONDS),
    "-J",
    ...load.args,
  ]);
  let out = "";
  client.stdout!.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => client.on("exit", resolve));
  await sleep(WARM_UP_SECONDS * 1000);
  const b0 = busySeconds(),
    g0 = pid ? processSeconds(pid) : 0;
  const before = await s.counters?.(); // for bytes per read only: a few ms into the window do no harm
  const timeout = setTimeout(() => client.kill("SIGKILL"), (SECONDS + 12) * 1000);
  const code = await exited;
  clearTimeout(timeout);
  const b1 = busySeconds(),
    g1 = pid ? processSeconds(pid) : 0;
  const after = await s.counters?.();
  if (code !== 0) throw new Error(`iperf3 exited with ${code}: ${out.slice(0, 300)}`);
  const j = JSON.parse(out);
  let bytes: number, packets: number;
  if (load.udpSize) {
    packets = (j.end.sum?.packets ?? 0) - (j.end.sum?.lost_packets ?? 0);
    bytes = packets * load.udpSize;
  } else {
    bytes = j.end.sum_received.bytes;
    packets = bytes / MSS;
  }
  const sample: Sample = { busy: b1 - b0, bytes, packets };
  if (pid) sample.gwCpu = g1 - g0;
  if (before && after && after.reads > before.reads)
    sample.superPacket = (after.bytes - before.bytes) / (after.reads - before.reads);
  return sample;
}

// ---- the setups ------------------------------------------------------------------------------

function kernelNat(t: Topology, name: string, ipmasqOffload: boolean): Setup {
  let was: Map<string, string> | undefined;
  return {
    name,
    target: "10.0.0.2",
    target6: WAN6,
    async start() {
      kernelMasquerade(t, true);
      if (ipmasqOffload) was = setReceiveOffload(t);
    },
    async stop() {
      if (was) setReceiveOffload(t, was);
      kernelMasquerade(t, false);
    },
  };
}

function kernelForwarding(t: Topology): Setup {
  return {
    name: "kernel forwarding, no NAT",
    target: "10.0.0.2",
    target6: WAN6,
    async start() {
      t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
      t.exec(t.wan, ["ip", "route", "add", "192.168.0.0/24", "via", "10.0.0.1"]);
    },
    async stop() {
      t.exec(t.wan, ["ip", "route", "del", "192.168.0.0/24", "via", "10.0.0.1"]);
      t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"]);
    },
  };
}

// A direct link between the LAN and WAN hosts (made once by main): no gateway at all.
function endpointsOnly(): Setup {
  return {
    name: "endpoints only (direct link)",
    target: "172.31.0.2",
    target6: "fd00:31::2",
    async start() {
      /* always there */
    },
    async stop() {
      /* nothing */
    },
  };
}

function ipmasq(t: Topology, core: string, extra: string[] = []): Setup {
  let g: { proc: ChildProcess } | undefined;
  const state = join(t.dir, "state");
  return {
    name: `ipmasq ${core}${extra.length ? ` ${extra.join(" ")}` : ""}`,
    target: "10.0.0.2",
    target6: WAN6,
    async start() {
      g = await startGateway(t, ["--config", writeConfig(t), "--core", core, ...extra], state);
    },
    async stop() {
      g!.proc.kill("SIGTERM");
      await waitExit(g!.proc);
    },
    pid: () => g?.proc.pid,
    async counters() {
      const s = await gatewayStatus(state);
      let bytes = 0,
        reads = 0;
      for (const w of s.workers) {
        bytes += w.readBytes;
        reads += w.reads;
      }
      return { bytes, reads };
    },
  };
}

function cReference(t: Topology, binary: string): Setup {
  let ref: Awaited<ReturnType<typeof startReference>> | undefined;
  return {
    name: "C reference forwarder",
    target: "10.0.0.2",
    target6: WAN6,
    async start() {
      ref = await startReference(t, binary);
    },
    async stop() {
      ref!.proc.kill("SIGTERM");
      await waitExit(ref!.proc);
    },
    pid: () => ref?.proc.pid,
    async counters() {
      const out = ref!.output;
      const seen = out().length;
      // the wrapper passes SIGUSR1 on; the forwarder answers with a line of totals
      ref!.proc.kill("SIGUSR1");
      await until(() => /packets \d+ bytes \d+ reads \d+\n/.test(out().slice(seen)), 5000);
      const m = [
        ...out()
          .slice(seen)
          .matchAll(/packets (\d+) bytes (\d+) reads (\d+)/g),
      ].pop();
      return m ? { bytes: Number(m[2]), reads: Number(m[3]) } : { bytes: 0, reads: 0 };
    },
  };
}

// ---- figures ---------------------------------------------------------------------------------

interface Stat {
  median: number;
  iqr: number;
}
const stat = (xs: number[]): Stat => ({ median: median(xs), iqr: iqr(xs) });
interface Cell {
  delivered: number; // Gbit/s or kpps delivered
  total: Stat; // cycles per packet, the whole machine (endpoints included)
  gateway: Stat; // cycles per packet, the whole machine minus the endpoints' own (same repetition)
  gatewayPerByte: number;
  process?: Stat; // cycles per packet of the gateway process alone (ipmasq, the C reference)
  processCores?: number;
  superPacket?: number; // bytes per TUN read
}

async function main(): Promise<void> {
  requirePeers([
    ["nft", "nftables"],
    ["iperf3", "iperf3"],
    ["ethtool", "ethtool"],
    ["gcc", "gcc"],
  ]);
  const scratch = mkdtempSync(join(tmpdir(), "ipmasq-cost-"));
  const binary = buildReference(scratch);
  const t = makeTopology("cost", { ipv6: true });
  const abort = (): void => {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", abort);
  process.on("SIGTERM", abort);
  const hz = clockHz();
  const setups: Setup[] = [
    endpointsOnly(),
    kernelForwarding(t),
    kernelNat(t, "kernel nftables masquerade", false),
    kernelNat(t, "kernel nftables, receive offload as ipmasq's", true),
    ipmasq(t, "wasm"),
    ...VARIANTS.map((v) => ipmasq(t, "wasm", v.split(/\s+/))),
    ipmasq(t, "ts"),
    cReference(t, binary),
  ].filter((s, i) => i === 0 || !ONLY || s.name.includes(ONLY));
  // samples[setup][load] = one Sample per repetition
  const samples = setups.map(() => LOADS.map(() => [] as Sample[]));
  try {
    // the direct link of the endpoints-only row
    execFileSync("ip", ["link", "add", "lanD", "netns", t.lan, "type", "veth", "peer", "name", "wanD", "netns", t.wan]);
    t.exec(t.lan, ["ip", "addr", "add", "172.31.0.1/30", "dev", "lanD"]);
    t.exec(t.wan, ["ip", "addr", "add", "172.31.0.2/30", "dev", "wanD"]);
    t.exec(t.lan, ["ip", "addr", "add", "fd00:31::1/64", "dev", "lanD", "nodad"]);
    t.exec(t.wan, ["ip", "addr", "add", "fd00:31::2/64", "dev", "wanD", "nodad"]);
    t.exec(t.lan, ["ip", "link", "set", "lanD", "up"]);
    t.exec(t.wan, ["ip", "link", "set", "wanD", "up"]);
    await startServer(t);
    for (let rep = 0; rep < REPS; rep++) {
      for (const [si, s] of setups.entries()) {
        await s.start();
        try {
          // the path is up, and warm (JIT, first flows): a second of light traffic
          t.exec(t.lan, ["iperf3", "-c", s.target, "-t", "1", "-b", "100M"], { timeout: 30_000 });
          for (const [li, load] of LOADS.entries()) {
            const x = await runLoad(t, s, load);
            samples[si][li].push(x);
            process.stderr.write(
              `rep ${rep + 1}/${REPS} ${s.name} | ${load.name}: busy ${x.busy.toFixed(2)} s, ${(x.bytes / 1e6).toFixed(0)} MB${x.gwCpu !== undefined ? `, gateway ${x.gwCpu.toFixed(2)} s` : ""}${x.superPacket ? `, ${x.superPacket.toFixed(0)} B/read` : ""}\n`,
            );
            await sleep(200);
          }
        } finally {
          await s.stop();
        }
      }
    }
  } finally {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }

  // In each repetition a setup's gateway cost is its busy time minus the endpoints' busy time
  // for the same load (scaled to the bytes it delivered). It can come out below zero: receive
  // offload on the gateway hands the receiver fewer, larger packets, which costs it less.
  const cells: Cell[][] = setups.map((_setup, si) =>
    LOADS.map((load, li) => {
      const xs = samples[si][li];
      const cyclesPerPacket = (seconds: number, x: Sample): number => (seconds * hz) / Math.max(1, x.packets);
      const gateway = xs.map((x, rep) => {
        const ends = samples[0][li][rep];
        return x.busy - ends.busy * (x.bytes / Math.max(1, ends.bytes));
      });
      const proc = xs.filter((x) => x.gwCpu !== undefined);
      const sp = xs.map((x) => x.superPacket).filter((v): v is number => v !== undefined);
      return {
        delivered: median(xs.map((x) => (load.udpSize ? x.packets / SECONDS / 1000 : (x.bytes * 8) / SECONDS / 1e9))),
        total: stat(xs.map((x) => cyclesPerPacket(x.busy, x))),
        gateway: stat(xs.map((x, rep) => cyclesPerPacket(gateway[rep], x))),
        gatewayPerByte: median(xs.map((x, rep) => (gateway[rep] * hz) / Math.max(1, x.bytes))),
        process: proc.length ? stat(proc.map((x) => cyclesPerPacket(x.gwCpu!, x))) : undefined,
        processCores: proc.length ? median(proc.map((x) => x.gwCpu!)) / SECONDS : undefined,
        superPacket: sp.length ? median(sp) : undefined,
      };
    }),
  );

  const index = (prefix: string): number => setups.findIndex((s) => s.name.startsWith(prefix));
  const kernels = [index("kernel nftables masquerade"), index("kernel nftables, receive")].filter((i) => i >= 0);
  const wasm = index("ipmasq wasm"),
    reference = index("C reference");
  // the kernel's cheaper nftables row for a load
  const kernelBest = (li: number, key: "total" | "gateway"): number =>
    Math.min(...kernels.map((k) => cells[k][li][key].median));
  const ratio = (num: number, den: number): string =>
    Number.isFinite(num) && num > 0 && den > 0 ? (num / den).toFixed(2) : "—";
  const f = (n: number): string => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));
  const withIqr = (x?: Stat): string => (x ? `${f(x.median)} [${f(x.iqr)}]` : "—");
  const lines: string[] = [
    `CPU cost of carrying fixed loads through the gateway (${process.arch}, ${CPUS} cores, ${(hz / 1e9).toFixed(2)} GHz nominal; median of ${REPS} ` +
      `interleaved repetitions of ${SECONDS} s after ${WARM_UP_SECONDS} s of the load, interquartile range in brackets). Cycles are busy time × the nominal clock (this VM has no cycle ` +
      `counters). Per packet: per UDP datagram, or per ${MSS}-byte TCP segment. *total*: the whole machine, senders and receivers included; ` +
      `*gateway*: total minus the same load between the two hosts over a direct link (the endpoints' own cost; below zero where the gateway's ` +
      `receive offload saves the receiver more than forwarding costs); *process*: the gateway process alone (ipmasq, the C reference). ` +
      `Ratios: the cheaper kernel nftables row ÷ this (1.0 = as cheap as the kernel), and the C reference's process ÷ ipmasq's (1.0 = as cheap as C). IPv6 is routed, not translated: in its tables the kernel nftables rows are the kernel's stateful IPv6 filter (ct state established accept), ipmasq's are its RFC 6092 filter.`,
    "",
  ];
  if (wasm >= 0 && kernels.length) {
    lines.push(
      "## Summary: ipmasq (WASM core, 2 workers)",
      "",
      "| load | kernel ÷ ipmasq, total | kernel ÷ ipmasq, gateway | C ÷ ipmasq, process | ipmasq process, cores | C process, cores | bytes per TUN read |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const [li, load] of LOADS.entries()) {
      const w = cells[wasm][li],
        c = reference >= 0 ? cells[reference][li] : undefined;
      lines.push(
        `| ${load.name} | ${ratio(kernelBest(li, "total"), w.total.median)} | ${ratio(kernelBest(li, "gateway"), w.gateway.median)} | ` +
          `${c?.process && w.process ? ratio(c.process.median, w.process.median) : "—"} | ${w.processCores?.toFixed(2) ?? "—"} | ${c?.processCores?.toFixed(2) ?? "—"} | ${w.superPacket?.toFixed(0) ?? "—"} |`,
      );
    }
    lines.push("");
  }
  for (const [li, load] of LOADS.entries()) {
    lines.push(
      `### ${load.name}`,
      "",
      "| setup | delivered | total cycles/packet | gateway cycles/packet | gateway cycles/byte | process cycles/packet | kernel ÷ this, total | kernel ÷ this, gateway | bytes per TUN read |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const [si, s] of setups.entries()) {
      const c = cells[si][li];
      const compared = si > 0 && !kernels.includes(si);
      lines.push(
        `| ${s.name} | ${load.udpSize ? `${c.delivered.toFixed(0)} kpps` : `${c.delivered.toFixed(2)} Gbit/s`} | ${withIqr(c.total)} | ` +
          `${si === 0 ? "—" : withIqr(c.gateway)} | ${si === 0 ? "—" : c.gatewayPerByte.toFixed(2)} | ${withIqr(c.process)} | ` +
          `${compared ? ratio(kernelBest(li, "total"), c.total.median) : "—"} | ${compared ? ratio(kernelBest(li, "gateway"), c.gateway.median) : "—"} | ${c.superPacket?.toFixed(0) ?? "—"} |`,
      );
    }
    lines.push("");
  }
  const md = lines.join("\n");
  process.stdout.write(`\n${md}`);
  const RESULTS = join(__dirname, "results");
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${OUT}.md`), md);
  writeFileSync(
    join(RESULTS, `${OUT}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), reps: REPS, seconds: SECONDS, hz, loads: LOADS.map((l) => l.name), setups: setups.map((s) => s.name), cells, samples }, null, 1)}\n`,
  );
  const shown = setups.map((s, si) => ({ s, si })).filter(({ si }) => si > 1 && !kernels.includes(si));
  writeFileSync(
    join(RESULTS, `${OUT}.svg`),
    barChart(
      "whole-machine CPU per packet: kernel nftables ÷ this (higher is cheaper; 1 = as cheap as the kernel)",
      LOADS.map((l, li) => ({
        label: l.name,
        values: shown.map(({ s, si }) => ({
          name: s.name,
          value: kernels.length ? kernelBest(li, "total") / cells[si][li].total.median : 0,
        })),
      })),
    ),
  );
  wrote(["md", "json", "svg"].map((x) => join(RESULTS, `${OUT}.${x}`)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
