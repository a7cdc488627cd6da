// What the HA pair's table sync costs (docs/ha.md): at 1 000 new TCP connections a second through
// the master, the updates a second and bytes per update it sends, and the CPU of both gateways,
// against the same load through a gateway without a peer. In one run, interleaved.
// Writes bench/results/ha.md.
//   npm run bench:ha [-- --seconds 10] [-- --rate 1000] [-- --reps 3]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { sleep, waitExit, waitListening } from "../harness/topology";
import { makePair, watch, pairFiles, type Pair } from "../harness/ha-pair";
import { requirePeers, wrote } from "./peers";
import { processSeconds } from "./cpu-time";
import { median } from "./stats";
import { BUNDLE, NODE, ipmasqCli } from "../harness/ipmasq-cli";
import { arg } from "./args";

const SECONDS = Number(arg("--seconds") ?? 10);
const RATE = Number(arg("--rate") ?? 1000);
const REPS = Number(arg("--reps") ?? 3);
const ROOT = join(__dirname, "..");
const PEERS = join(ROOT, "tests", "peers");

interface Run {
  synced: boolean;
  conns: number;
  failed: number;
  masterCpu: number;
  backupCpu: number;
  records: number;
  datagrams: number;
  bytes: number;
}

async function once(p: Pair, synced: boolean): Promise<Run> {
  const { key, config } = pairFiles(p);
  const start = async (gw: "gw1" | "gw2", peer: string): Promise<ChildProcess> => {
    const sync = synced ? ["--sync-peer", peer, "--sync-key", key, "--sync-dev", "sync0"] : [];
    const g = p.spawn(p.ns[gw], [
      NODE,
      BUNDLE,
      "run",
      "--config",
      config,
      "--state-dir",
      join(p.dir, gw),
      "--public",
      "10.0.0.1",
      ...sync,
    ]);
    await watch(g).until(/ready\n/);
    return g;
  };
  // the master holds the virtual addresses, as keepalived would have made it
  p.exec(p.ns.gw1, ["sh", "-c", "ip addr add 192.168.0.1/24 dev eth1; ip addr add 10.0.0.1/24 dev eth0"]);
  const master = await start("gw1", "10.9.0.2");
  const backup = synced ? await start("gw2", "10.9.0.1") : undefined;
  const cli = (gw: "gw1" | "gw2", ...a: string[]): string => ipmasqCli(p.exec, p.ns[gw], join(p.dir, gw))(...a);
  try {
    if (synced) cli("gw1", "role", "master");
    await sleep(2000);
    const before = synced ? JSON.parse(cli("gw1", "status", "--json")).ha.counts : undefined;
    const m0 = processSeconds(master.pid!),
      b0 = backup ? processSeconds(backup.pid!) : 0;
    const out = JSON.parse(
      p.exec(
        p.ns.lan,
        [NODE, join(PEERS, "conn-rate.js"), "10.0.0.254", "9000", String(SECONDS), "1", String(RATE)],
        (SECONDS + 30) * 1000,
      ),
    );
    await sleep(500); // the last batch and the DESTROYs of the last connections
    const m1 = processSeconds(master.pid!),
      b1 = backup ? processSeconds(backup.pid!) : 0;
    const after = synced ? JSON.parse(cli("gw1", "status", "--json")).ha.counts : undefined;
    const run: Run = {
      synced,
      conns: out.connections,
      failed: out.failed,
      masterCpu: m1 - m0,
      backupCpu: b1 - b0,
      records: after ? after.sentRecords - before.sentRecords : 0,
      datagrams: after ? after.sentDatagrams - before.sentDatagrams : 0,
      bytes: after ? after.sentBytes - before.sentBytes : 0,
    };
    process.stderr.write(`${JSON.stringify(run)}\n`);
    return run;
  } finally {
    for (const g of [master, backup])
      if (g) {
        g.kill("SIGTERM");
        await waitExit(g);
      }
    p.exec(p.ns.gw1, ["sh", "-c", "ip addr del 192.168.0.1/24 dev eth1; ip addr del 10.0.0.1/24 dev eth0; true"]);
  }
}

async function main(): Promise<void> {
  requirePeers([["ip", "iproute2"]]);
  const p = makePair();
  const runs: Run[] = [];
  try {
    await waitListening(p.spawn(p.ns.wan, [NODE, join(PEERS, "tcp-many.js"), "server", "9000"]));
    // 10 000 connections a run stay in TIME_WAIT on the LAN host for a minute: without reuse the
    // later runs would run out of its ports (found: 999, 634, 471 connections/s in a row)
    p.exec(p.ns.lan, ["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535"]);
    for (let rep = 0; rep < REPS; rep++) for (const synced of [false, true]) runs.push(await once(p, synced));
  } finally {
    p.destroy();
  }
  const plain = runs.filter((r) => !r.synced),
    synced = runs.filter((r) => r.synced);
  const perSecond = (_run: Run, x: number): number => x / SECONDS;
  const md = `${[
    `HA table sync at ${RATE} new TCP connections a second (each opened, answered and closed) through the master for ${SECONDS} s; median of ${REPS} interleaved runs`,
    "",
    "| | connections/s done | updates/s sent | updates per connection | datagrams/s | bytes per update (datagram overhead included) | master CPU, % of a core | master CPU per 1000 connections, ms | backup CPU per 1000 connections, ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| one gateway, no peer | ${median(plain.map((r) => r.conns / SECONDS)).toFixed(0)} | — | — | — | — | ${median(plain.map((r) => (100 * r.masterCpu) / SECONDS)).toFixed(1)} | ${median(plain.map((r) => (1e6 * r.masterCpu) / r.conns)).toFixed(0)} | — |`,
    `| HA pair, table sync | ${median(synced.map((r) => r.conns / SECONDS)).toFixed(0)} | ${median(synced.map((r) => perSecond(r, r.records))).toFixed(0)} | ${median(synced.map((r) => r.records / r.conns)).toFixed(2)} | ${median(synced.map((r) => perSecond(r, r.datagrams))).toFixed(0)} | ${median(synced.map((r) => r.bytes / Math.max(1, r.records))).toFixed(1)} | ${median(synced.map((r) => (100 * r.masterCpu) / SECONDS)).toFixed(1)} | ${median(synced.map((r) => (1e6 * r.masterCpu) / r.conns)).toFixed(0)} | ${median(synced.map((r) => (1e6 * r.backupCpu) / r.conns)).toFixed(0)} |`,
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "ha.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
