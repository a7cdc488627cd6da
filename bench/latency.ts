// Latency through the gateway: ping (ICMP, never held by receive offload) and a UDP request and
// reply (sockperf ping-pong: a game's or a DNS query's round trip, which a receive-offload hold
// delays on each way in) through the kernel's nftables masquerade, through ipmasq with its
// defaults and with other options (--variants: the hold always on, busy polling, …), and through
// the C reference forwarder on ipmasq's own TUN setup (bench/reference/: what the design itself
// adds, with no Node in the way); on an idle gateway and under a paced 1 Gbit/s TCP stream; and
// each gateway's CPU while idle (after the load). In one run, same topology. Writes
// bench/results/latency.md.
//   npm run bench:latency [-- --variants "--gro-busy 0;--busy-poll 100"] [-- --reps 3] [-- --warm-up 10] [-- --idle-seconds 30] [-- --workers N]
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { makeTopology, writeConfig, startGateway, waitExit, until, type Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { processSeconds } from "./cpu-time";
import { median } from "./stats";
import { kernelMasquerade } from "./kernel-nat";
import { buildReference, startReference } from "./reference/reference";
import { arg } from "./args";

// ipmasq rows besides the defaults, ";"-separated
const VARIANTS = (arg("--variants") ?? "--gro-busy 0;--busy-poll 100")
  .split(";")
  .map((v) => v.trim())
  .filter(Boolean);
const IDLE_SECONDS = Number(arg("--idle-seconds") ?? 30);
const WARM_UP_SECONDS = Number(arg("--warm-up") ?? 10); // half of it ping, half UDP
const REPS = Number(arg("--reps") ?? 3); // rounds over all setups (on this VM one round's p50 moved by 30 µs from run to run)
const WORKERS = arg("--workers"); // default: the gateway's own
const UDP_PORT = 11111;

interface Rtt {
  p50: number;
  p99: number;
} // µs
interface Row {
  setup: string;
  fresh: Rtt;
  ping: Rtt;
  udp: Rtt;
  pingLoad: Rtt;
  udpLoad: Rtt;
  idleCpu?: number;
}

const percentiles = (us: number[]): Rtt => {
  us.sort((a, b) => a - b);
  return { p50: us[Math.floor(us.length * 0.5)], p99: us[Math.min(us.length - 1, Math.floor(us.length * 0.99))] };
};

function ping(t: Topology): Rtt {
  const out = t.exec(t.lan, ["ping", "-c", "400", "-i", "0.005", "10.0.0.2"]);
  return percentiles([...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000));
}

// 200 request/reply round trips a second for 3 s; sockperf prints the percentiles of the round trip
function udpRoundTrip(t: Topology): Rtt {
  const out = t.exec(
    t.lan,
    ["sockperf", "ping-pong", "-i", "10.0.0.2", "-p", String(UDP_PORT), "-t", "3", "--mps", "200", "--full-rtt"],
    { timeout: 30_000 },
  );
  const at = (q: string): number => Number(new RegExp(`percentile ${q} =\\s+([\\d.]+)`).exec(out)?.[1] ?? NaN);
  return { p50: at("50.000"), p99: at("99.000") };
}

async function measure(t: Topology, setup: string, pid?: number): Promise<Row> {
  t.exec(t.lan, ["ping", "-c", "3", "-i", "0.2", "10.0.0.2"]); // neighbours resolved, the flow made
  const fresh = ping(t); // a gateway just started (the C reference too has a longer tail then)
  // then traffic for a while (a gateway runs for days): the figures below are its steady state
  t.exec(t.lan, ["ping", "-c", String(WARM_UP_SECONDS * 100), "-i", "0.005", "-q", "10.0.0.2"], {
    timeout: WARM_UP_SECONDS * 4000,
  });
  t.exec(
    t.lan,
    [
      "sockperf",
      "ping-pong",
      "-i",
      "10.0.0.2",
      "-p",
      String(UDP_PORT),
      "-t",
      String(WARM_UP_SECONDS / 2),
      "--mps",
      "200",
    ],
    { timeout: WARM_UP_SECONDS * 4000 },
  );
  const idle = { ping: ping(t), udp: udpRoundTrip(t) };
  const load: ChildProcess = t.spawn(t.lan, ["iperf3", "-c", "10.0.0.2", "-b", "1G", "-t", "10"]);
  await new Promise((r) => setTimeout(r, 1500));
  const loaded = { ping: ping(t), udp: udpRoundTrip(t) };
  await new Promise<void>((resolve) => {
    load.on("exit", () => resolve());
    if (load.exitCode !== null) resolve();
  });
  let idleCpu: number | undefined;
  if (pid) {
    await new Promise((r) => setTimeout(r, 2000));
    // the process and its children (the C reference runs under a wrapper)
    const t0 = processSeconds(pid);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    idleCpu = (100 * (processSeconds(pid) - t0)) / IDLE_SECONDS;
  }
  const row = { setup, fresh, ...idle, pingLoad: loaded.ping, udpLoad: loaded.udp, idleCpu };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

async function main(): Promise<void> {
  requirePeers([
    ["nft", "nftables"],
    ["iperf3", "iperf3"],
    ["ping", "iputils-ping"],
    ["sockperf", "sockperf"],
    ["gcc", "gcc"],
  ]);
  const t = makeTopology("lat");
  const scratch = mkdtempSync(join(tmpdir(), "ipmasq-latency-"));
  const runs = new Map<string, Row[]>();
  try {
    const binary = buildReference(scratch);
    t.spawn(t.wan, ["iperf3", "-s"]);
    t.spawn(t.wan, ["sockperf", "server", "-i", "10.0.0.2", "-p", String(UDP_PORT)]);
    await until(
      () =>
        t.exec(t.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "" &&
        t.exec(t.wan, ["ss", "-Hlun", `sport = :${UDP_PORT}`]).trim() !== "",
    );
    // every setup once a round, in the same order; a setup's figures are the medians of its rounds
    for (let round = 0; round < REPS; round++) {
      const idle = round === 0; // the idle CPU is measured in the first round only
      const rec = (r: Row): void => {
        (runs.get(r.setup) ?? runs.set(r.setup, []).get(r.setup)!).push(r);
      };
      kernelMasquerade(t, true);
      rec(await measure(t, "kernel nftables masquerade"));
      kernelMasquerade(t, false);
      for (const variant of ["", ...VARIANTS]) {
        const g = await startGateway(
          t,
          [
            "--config",
            writeConfig(t),
            ...variant.split(" ").filter(Boolean),
            ...(WORKERS ? ["--workers", WORKERS] : []),
          ],
          join(t.dir, "state"),
        );
        try {
          rec(
            await measure(
              t,
              `ipmasq${WORKERS ? ` w${WORKERS}` : ""}${variant ? `, ${variant}` : ", defaults"}`,
              idle ? g.proc.pid : undefined,
            ),
          );
        } finally {
          g.proc.kill("SIGTERM");
          await waitExit(g.proc);
        }
      }
      const ref = (await startReference(t, binary, Number(WORKERS ?? 2))).proc;
      try {
        rec(await measure(t, `C reference forwarder${WORKERS ? ` w${WORKERS}` : ""}`, idle ? ref.pid : undefined));
      } finally {
        ref.kill("SIGTERM");
        await waitExit(ref);
      }
    }
  } finally {
    t.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
  const mid = (rs: Row[], f: (r: Row) => Rtt): Rtt => ({
    p50: median(rs.map((r) => f(r).p50)),
    p99: median(rs.map((r) => f(r).p99)),
  });
  const rows: Row[] = [...runs.values()].map((rs) => ({
    setup: rs[0].setup,
    fresh: mid(rs, (r) => r.fresh),
    ping: mid(rs, (r) => r.ping),
    udp: mid(rs, (r) => r.udp),
    pingLoad: mid(rs, (r) => r.pingLoad),
    udpLoad: mid(rs, (r) => r.udpLoad),
    idleCpu: rs[0].idleCpu,
  }));
  const k = rows[0];
  const fmt = (n: number | undefined, d = 0): string => (n === undefined || Number.isNaN(n) ? "—" : n.toFixed(d));
  const added = (r: Row, f: (x: Row) => Rtt): string => (r === k ? "—" : fmt(f(r).p50 - f(k).p50));
  const md = `${[
    `latency through the gateway (x64; medians of ${REPS} interleaved rounds; ping -i 0.005 × 400; UDP: sockperf ping-pong, 200 round trips/s for 3 s; *fresh*: the first 400 pings after a start, the others after ${WARM_UP_SECONDS} s of pings and UDP round trips; under load: iperf3 -b 1G alongside; idle CPU over ${IDLE_SECONDS} s after the load); round trips in µs`,
    "",
    "| setup | ping fresh p50 / p99 | ping idle p50 / p99 | UDP idle p50 / p99 | ping 1 Gbit/s p50 / p99 | UDP 1 Gbit/s p50 / p99 | added p50, ping / UDP (idle) | added p50, ping / UDP (1 Gbit/s) | idle CPU % of a core |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.setup} | ${fmt(r.fresh.p50)} / ${fmt(r.fresh.p99)} | ${fmt(r.ping.p50)} / ${fmt(r.ping.p99)} | ${fmt(r.udp.p50)} / ${fmt(r.udp.p99)} | ${fmt(r.pingLoad.p50)} / ${fmt(r.pingLoad.p99)} | ${fmt(r.udpLoad.p50)} / ${fmt(r.udpLoad.p99)} | ` +
        `${added(r, (x) => x.ping)} / ${added(r, (x) => x.udp)} | ${added(r, (x) => x.pingLoad)} / ${added(r, (x) => x.udpLoad)} | ${fmt(r.idleCpu, 2)} |`,
    ),
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "latency.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
