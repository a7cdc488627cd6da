// A long run at the scale the gateway is sized for: the table filled to --flows entries (1 M by
// default) from a LAN of 200 hosts and kept there, churned all the while (a second set of flows
// refreshed too slowly for the UDP timeout: they time out and come back; TCP connections opened
// and closed), and read the whole time (`hosts`, the status page's API, the metrics; `conns` and
// a graceful restart every few minutes; `ipmasq events` followed throughout). Each minute: the
// gateway's RSS and anonymous memory, V8 heap, open descriptors and threads, the table's fill,
// events lost, a ping's round trip through it, and how long a `hosts` read walked the table.
// Writes bench/results/soak.md and soak.svg.
//   npm run bench:soak [-- --minutes 30] [-- --flows 1000000] [-- --restart-every 10]
// tests/e2e-soak.test.ts runs two minutes of it at a smaller scale as a test of "no growth".
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitListening,
  until,
  sleep,
  outcome,
  SEED_CONFIG,
} from "../harness/topology";
import { ipmasqCli, NODE, BUNDLE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "..", "tests", "peers");
const HOSTS = 200;
const WAN = "10.0.0.2";

export interface SoakOptions {
  minutes: number;
  flows: number; // kept alive
  restartEvery: number; // minutes (0: never)
  say?: (line: string) => void;
}

export interface Sample {
  minute: number;
  pid: number;
  rssMb: number;
  anonMb: number;
  heapMb: number; // the main thread's V8 heap
  fds: number;
  threads: number;
  connections: number;
  eventsLost: number;
  eventsSeen: number; // events `ipmasq events` printed so far (across restarts)
  eventsDropped: number; // those it was told it missed, reading too slowly
  probeMs: number; // median round trip of 20 pings through the gateway
  probeMaxMs: number;
  hostsReadMs: number;
}

export interface SoakResult {
  samples: Sample[];
  fillSeconds: number;
  restarts: number;
  restartSeconds: number[]; // from `ipmasq restart` to the new process answering status
  readsFailed: number;
  readsFailedRestarting: number;
  conns: Array<{ minute: number; rows: number; ms: number }>;
}

// /proc of a process: memory (MB), threads, descriptors.
function processFacts(pid: number): { rssMb: number; anonMb: number; threads: number; fds: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return {
    rssMb: Math.round(kb("VmRSS") / 102.4) / 10,
    anonMb: Math.round(kb("RssAnon") / 102.4) / 10,
    threads: kb("Threads"),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const say = o.say ?? ((l: string) => process.stdout.write(`${l}\n`));
  const topo = makeTopology("soak");
  const children: ChildProcess[] = [];
  try {
    const state = join(topo.dir, "state");
    const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
    // the LAN's hosts: 192.168.0.10 and on
    const hosts = Array.from({ length: HOSTS }, (_, i) => `192.168.0.${10 + i}`);
    topo.exec(topo.lan, ["ip", "-batch", "-"], { input: hosts.map((a) => `addr add ${a}/24 dev lan0`).join("\n") });
    await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
    await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "tcp-many.js"), "server", "7000"]));
    const g = await startGateway(
      topo,
      [
        "--config",
        writeConfig(topo, `${SEED_CONFIG}ipchains -M -S 7200 10 120\n`), // UDP flows idle 120 s end
        "--max-conns",
        String(Math.ceil(o.flows * 1.25)),
        "--web",
        "127.0.0.1:8088",
        "--metrics",
        "127.0.0.1:9100",
      ],
      state,
    );
    const status = (): Record<string, unknown> & {
      pid: number;
      connections: number;
      hostsReadMs: number;
      heapBytes: number;
      events: { lost: number };
    } => {
      // the main thread may be walking a million flows (a sweep, a `conns`): ask again
      for (let n = 0; ; n++) {
        const r = outcome(() => ipmasq("status", "--json"));
        if (r.code === 0 || n === 5) return JSON.parse(r.out);
      }
    };

    // `ipmasq events` followed throughout (started again after a restart): the events it printed,
    // and those it was told it missed for reading too slowly
    let eventsSeen = 0,
      eventsDropped = 0;
    const follow = (): Promise<void> => {
      const ev = topo.spawn(topo.gw, [NODE, BUNDLE, "events", "--state-dir", state]);
      children.push(ev);
      // subscribed once it says so on stderr: the fill waits for that, or its first events go unseen
      const subscribed = new Promise<void>((resolve) => {
        ev.stderr!.on("data", (d: Buffer) => {
          if (String(d).includes("following")) resolve();
        });
        ev.on("exit", () => resolve());
      });
      let part = "";
      ev.stdout!.on("data", (d: Buffer) => {
        const lines = (part + d).split("\n");
        part = lines.pop() ?? "";
        for (const l of lines) {
          const m = /^\((\d+) events dropped/.exec(l);
          if (m) eventsDropped += Number(m[1]);
          else eventsSeen++;
        }
      });
      ev.on("exit", () => {
        if (!stopping) setTimeout(follow, 1000);
      });
      return subscribed;
    };
    let stopping = false;
    await follow();

    // the fill: every flow once, as fast as the gateway takes them; from the start, every flow
    // refreshed well within the UDP timeout for the rest of the run (and made by it, where the
    // fast round lost a datagram)
    const ports = Math.ceil(o.flows / HOSTS);
    const t0 = Date.now();
    const seconds = o.minutes * 60 + 300;
    const fillRate = Math.min(40_000, o.flows);
    const flows = (from: number, to: number, first: number, rate: number): ChildProcess =>
      topo.spawn(topo.lan, [
        NODE,
        join(PEERS, "udp-flows.js"),
        WAN,
        String(from),
        String(to),
        String(first),
        String(rate),
        String(seconds),
        ...hosts,
      ]);
    // the first round as fast as the gateway takes it, then a round every 100 s (within the 120 s timeout)
    const keep = flows(1, ports, fillRate, Math.ceil(o.flows / 100));
    children.push(keep);
    let last = 0;
    await until(() => {
      const n = status().connections;
      if (n - last >= o.flows / 10)
        say(`filling: ${(last = n)} flows after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return n >= o.flows * 0.95;
    }, 10 * 60_000);
    const fillSeconds = (Date.now() - t0) / 1000;
    say(`filled ${status().connections} flows in ${fillSeconds.toFixed(0)} s`);
    // churn: flows refreshed every 200 s, past the 120 s UDP timeout the rules set: they end and
    // come back; TCP connections opened and closed
    const churnRate = Math.ceil(o.flows / 20 / 200);
    const churn = flows(20000, 20000 + Math.ceil(o.flows / 20 / HOSTS), churnRate, churnRate);
    const tcp = topo.spawn(topo.lan, [NODE, join(PEERS, "conn-rate.js"), WAN, "7000", String(seconds), "1", "50"]);
    children.push(churn, tcp);

    // readers, the whole time
    // (a read during a graceful restart may find nobody listening: the restart's gap, counted apart)
    let readsFailed = 0,
      readsFailedRestarting = 0,
      restarting = false;
    const read = (cmd: string[]): void => {
      if (outcome(() => topo.exec(topo.gw, cmd, { timeout: 120_000 })).code === 0) return;
      if (restarting) readsFailedRestarting++;
      else readsFailed++;
    };
    let reading = true;
    const readers = (async () => {
      while (reading) {
        read([NODE, BUNDLE, "hosts", "--json", "--state-dir", state]);
        for (const api of ["status", "hosts", "conns?filter=udp", "traffic"])
          read(["curl", "-sSf", "-o", "/dev/null", `http://127.0.0.1:8088/api/${api}`]);
        read(["curl", "-sSf", "-o", "/dev/null", "http://127.0.0.1:9100/metrics"]);
        await sleep(2000);
      }
    })();

    // 20 pings through the gateway (ICMP echo is a flow of its own in the core): median and most
    const probe = (): { median: number; max: number } => {
      const out = outcome(() => topo.exec(topo.lan, ["ping", "-n", "-c", "20", "-i", "0.05", "-W", "1", WAN])).out;
      const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
      if (!rtts.length) say(`probe: no answer (${out.trim().split("\n").pop()})`);
      return { median: rtts[Math.floor(rtts.length / 2)] ?? Number.NaN, max: rtts[rtts.length - 1] ?? Number.NaN };
    };

    const samples: Sample[] = [];
    const conns: SoakResult["conns"] = [];
    let restarts = 0;
    const restartSeconds: number[] = [];
    for (let minute = 1; minute <= o.minutes; minute++) {
      await sleep(Math.max(0, t0 + fillSeconds * 1000 + minute * 60_000 - Date.now()));
      if (o.restartEvery && minute % o.restartEvery === 0 && minute < o.minutes) {
        const before = status().pid;
        const began = Date.now();
        restarting = true;
        ipmasq("restart");
        await until(() => outcome(() => ipmasq("status", "--json")).code === 0 && status().pid !== before, 120_000);
        const took = (Date.now() - began) / 1000;
        await sleep(3000); // the page and the metrics of the new process listening
        restarting = false;
        restarts++;
        say(`minute ${minute}: restarted (${before} -> ${status().pid}) in ${took.toFixed(1)} s`);
        restartSeconds.push(took);
      }
      if (minute % 5 === 0 || minute === o.minutes) {
        const t = Date.now();
        const out = ipmasq("conns", "--json");
        conns.push({ minute, rows: (JSON.parse(out) as unknown[]).length, ms: Date.now() - t });
      }
      const st = status();
      const p = probe();
      const s: Sample = {
        minute,
        pid: st.pid,
        ...processFacts(st.pid),
        heapMb: Math.round(st.heapBytes / 1e5) / 10,
        connections: st.connections,
        eventsLost: st.events.lost,
        eventsSeen,
        eventsDropped,
        probeMs: Math.round(p.median * 10) / 10,
        probeMaxMs: Math.round(p.max * 10) / 10,
        hostsReadMs: st.hostsReadMs,
      };
      samples.push(s);
      say(JSON.stringify(s));
    }
    reading = false;
    await readers;
    stopping = true;
    // a clean stop of whichever process holds the gateway now (a restart made another)
    const pid = status().pid;
    process.kill(pid, "SIGTERM");
    await until(() => outcome(() => readFileSync(`/proc/${pid}/status`, "utf8")).code !== 0, 60_000);
    if (g.proc.exitCode === null) g.proc.kill("SIGKILL");
    return { samples, fillSeconds, restarts, restartSeconds, readsFailed, readsFailedRestarting, conns };
  } finally {
    for (const c of children) c.kill("SIGKILL");
    topo.destroy();
  }
}

// A line chart per figure, stacked (each its own scale), against the minute.
function charts(samples: Sample[]): string {
  const panels: Array<[string, (s: Sample) => number]> = [
    ["RSS MB", (s) => s.rssMb],
    ["anonymous MB", (s) => s.anonMb],
    ["V8 heap MB (main thread)", (s) => s.heapMb],
    ["open descriptors", (s) => s.fds],
    ["threads", (s) => s.threads],
    ["flows (k)", (s) => s.connections / 1000],
    ["probe round trip ms (median)", (s) => s.probeMs],
    ["hosts read ms", (s) => s.hostsReadMs],
  ];
  const W = 640,
    H = 110,
    left = 70;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${panels.length * H + 30}" font-family="sans-serif" font-size="11">`,
  ];
  const n = Math.max(1, samples.length - 1);
  panels.forEach(([label, f], k) => {
    const top = 20 + k * H,
      bottom = top + H - 30;
    const vs = samples.map(f).filter(Number.isFinite);
    const max = Math.max(1e-9, ...vs) * 1.1;
    const x = (i: number): number => left + ((W - left - 20) * i) / n;
    const y = (v: number): number => bottom - ((bottom - top) * v) / max;
    parts.push(`<text x="4" y="${top + 10}">${label}</text>`);
    parts.push(`<line x1="${left}" y1="${bottom}" x2="${W - 20}" y2="${bottom}" stroke="#888"/>`);
    parts.push(`<text x="${left - 40}" y="${y(max / 1.1) + 4}">${(max / 1.1).toFixed(1)}</text>`);
    const pts = samples.map((s, i) => `${x(i).toFixed(1)},${y(Number.isFinite(f(s)) ? f(s) : 0).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${pts}"/>`);
  });
  parts.push(`<text x="${left}" y="${panels.length * H + 20}">minute 1 to ${samples.length}</text>`, "</svg>");
  return parts.join("\n");
}

// soak.md and soak.svg from a run's results.
export function writeResults(o: SoakOptions, r: SoakResult): string[] {
  const dir = join(__dirname, "results");
  const first = r.samples[0],
    last = r.samples[r.samples.length - 1];
  const rows = r.samples.map(
    (s) =>
      `| ${s.minute} | ${s.rssMb} | ${s.anonMb} | ${s.heapMb} | ${s.fds} | ${s.threads} | ${s.connections} | ${s.eventsSeen} | ${s.eventsDropped} | ${s.eventsLost} | ${s.probeMs} | ${s.probeMaxMs} | ${s.hostsReadMs} |`,
  );
  writeFileSync(
    join(dir, "soak.md"),
    [
      `soak: ${o.minutes} min at ${o.flows} flows from ${HOSTS} LAN hosts (filled in ${r.fillSeconds.toFixed(0)} s), a graceful restart every ${o.restartEvery} min (${r.restarts}, each ${r.restartSeconds.map((x) => `${x.toFixed(1)} s`).join(", ")} to the new process answering), reads failed ${r.readsFailed} times (and ${r.readsFailedRestarting} during restarts)`,
      "",
      "| minute | RSS MB | anon MB | heap MB | fds | threads | flows | events seen | told dropped | ring lost | ping ms | ping max ms | hosts read ms |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
      `first → last minute: RSS ${first.rssMb} → ${last.rssMb} MB, anonymous ${first.anonMb} → ${last.anonMb} MB, descriptors ${first.fds} → ${last.fds}, threads ${first.threads} → ${last.threads}`,
      "",
      `\`conns\` (every row, JSON): ${r.conns.map((c) => `${c.rows} rows in ${c.ms} ms`).join(", ") || "not read"}`,
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "soak.svg"), charts(r.samples));
  return [join(dir, "soak.md"), join(dir, "soak.svg")];
}

if (require.main === module) {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const o = {
    minutes: arg("--minutes", 30),
    flows: arg("--flows", 1_000_000),
    restartEvery: arg("--restart-every", 10),
  };
  void runSoak(o).then((r) => process.stdout.write(`\nwrote ${writeResults(o, r).join(", ")}\n`));
}
