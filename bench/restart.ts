// What a LAN host notices of a graceful restart (`ipmasq restart` and SIGHUP, in turn): a UDP probe
// at 1000 packets/s through the gateway and a download paced at 2 MB/s by its server
// (tests/peers/restart-probe.js). Per restart: the longest silence of the probe's echoes, the
// echoes lost, and the download's bytes in the second after the trigger against its average second.
// Writes bench/results/restart.md.
//   npm run bench:restart [-- --restarts 6] [-- --before DIR/ipmasq.js]   (--before: that build too, interleaved)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitListening,
  waitExit,
  until,
  sleep,
  type Topology,
} from "../harness/topology";
import { ipmasqCli, NODE, BUNDLE } from "../harness/ipmasq-cli";
import { requirePeers, wrote } from "./peers";
import { median } from "./stats";
import { arg } from "./args";

const RESTARTS = Number(arg("--restarts") ?? 6);
const BEFORE = arg("--before");
const PPS = 1000;
const RATE = 2_000_000; // bytes/s of the paced download
const PEERS = join(__dirname, "..", "tests", "peers");

interface Restart {
  how: string;
  silenceMs: number;
  lost: number;
  tcpSecond: number;
}

// One build: a gateway, the probe through it, RESTARTS restarts 4 s apart.
async function run(t: Topology, bundle: string, label: string): Promise<Restart[]> {
  const state = join(t.dir, `state-${label}`);
  const g = await startGateway(t, ["--config", writeConfig(t)], state, [], [], bundle);
  const ipmasq = ipmasqCli(t.exec, t.gw, state);
  const probe = t.spawn(t.lan, [
    NODE,
    join(PEERS, "restart-probe.js"),
    "10.0.0.2",
    "5353",
    `http://10.0.0.2:8080/bytes?n=${1e10}&rate=${RATE}`,
    String(PPS),
  ]);
  let out = "";
  probe.stdout!.on("data", (d) => {
    out += d;
  });
  await waitListening(probe);
  await sleep(3000);
  const triggers: Array<{ at: number; how: string }> = [];
  let pid = g.proc.pid!;
  for (let i = 0; i < RESTARTS; i++) {
    const pidNow = (): number | undefined => {
      try {
        return JSON.parse(ipmasq("status", "--json")).pid;
      } catch {
        return undefined;
      }
    };
    const old = pidNow()!;
    const how = i % 2 === 0 ? "ipmasq restart" : "SIGHUP";
    triggers.push({ at: Date.now(), how });
    if (how === "SIGHUP") t.exec(t.gw, ["kill", "-HUP", String(old)]);
    else ipmasq("restart");
    await until(() => {
      const p = pidNow();
      return p !== undefined && p !== old;
    }, 30_000);
    pid = pidNow()!;
    await sleep(4000);
  }
  probe.kill("SIGTERM");
  await waitExit(probe, 5000).catch(() => undefined);
  t.exec(t.gw, ["kill", "-TERM", String(pid)]);
  await until(() => {
    try {
      t.exec(t.gw, ["kill", "-0", String(pid)]);
      return false;
    } catch {
      return true;
    }
  }, 20_000);

  const silences = [...out.matchAll(/^silence (\d+) (\d+)$/gm)].map((m) => ({ at: Number(m[1]), ms: Number(m[2]) }));
  const bins = [...out.matchAll(/^bin (\d+) (\d+) (\d+)$/gm)].map((m) => ({
    at: Number(m[1]),
    tcp: Number(m[2]),
    echoes: Number(m[3]),
  }));
  return triggers.map(({ at, how }, k) => {
    const until = triggers[k + 1]?.at ?? Number.POSITIVE_INFINITY;
    const mine = silences.filter((s) => s.at >= at - 100 && s.at < until);
    const window = bins.filter((b) => b.at > at && b.at <= until);
    const expected = (window.length * PPS) / 10;
    const lost = Math.max(0, Math.round(expected - window.reduce((n, b) => n + b.echoes, 0)));
    const tcpSecond = bins.filter((b) => b.at > at && b.at <= at + 1000).reduce((n, b) => n + b.tcp, 0);
    return { how, silenceMs: Math.max(0, ...mine.map((s) => s.ms)), lost, tcpSecond };
  });
}

async function main(): Promise<void> {
  requirePeers([["ip", "iproute2"]]);
  const t = makeTopology("rst");
  try {
    await waitListening(t.spawn(t.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
    await waitListening(t.spawn(t.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
    const builds: Array<[string, string]> = [
      ["this build", BUNDLE],
      ...(BEFORE ? [["--before", BEFORE] as [string, string]] : []),
    ];
    const results = new Map<string, Restart[]>();
    for (const [label, bundle] of builds) {
      process.stdout.write(`${label}: ${RESTARTS} restarts...\n`);
      results.set(label, await run(t, bundle, label.replace(/\W/g, "")));
    }
    const lines = [
      "# Graceful restart, as a LAN host notices it (npm run bench:restart)",
      "",
      `A UDP probe at ${PPS} packets/s through the gateway and a download paced at ${RATE / 1e6} MB/s by its`,
      `server; ${RESTARTS} restarts, \`ipmasq restart\` and SIGHUP in turn, 4 s apart. "TCP in the second after"`,
      "is the download's bytes in the second after the trigger, against its paced second.",
      "",
      "| build | restart | longest silence of the probe (ms) | probe packets lost | TCP in the second after |",
      "|---|---|---:|---:|---:|",
      ...[...results].flatMap(([label, rs]) =>
        rs.map(
          (r, i) =>
            `| ${label} | ${i + 1} (${r.how}) | ${r.silenceMs} | ${r.lost} | ${(r.tcpSecond / RATE).toFixed(2)} |`,
        ),
      ),
      "",
      ...[...results].map(
        ([label, rs]) =>
          `- ${label}: median silence ${median(rs.map((r) => r.silenceMs))} ms (longest ${Math.max(...rs.map((r) => r.silenceMs))}), median lost ${median(rs.map((r) => r.lost))}, median TCP in the second after ${median(rs.map((r) => r.tcpSecond / RATE)).toFixed(2)} of its pace`,
      ),
      "",
    ];
    process.stdout.write(`\n${lines.join("\n")}\n`);
    const file = join(__dirname, "results", "restart.md");
    writeFileSync(file, lines.join("\n"));
    wrote([file]);
  } finally {
    t.destroy();
  }
}

void main();
