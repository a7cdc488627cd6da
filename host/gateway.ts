// `ipmasq run`: brings the gateway up in the current network namespace, runs it in the
// foreground, takes live changes through the control socket, and on exit or signal puts the
// kernel back exactly as it was.
import { readFileSync, existsSync, writeFileSync, renameSync, unlinkSync } from "node:fs";
import { spawn, execFileSync } from "node:child_process";
import { join } from "node:path";
import { randomInt } from "node:crypto";
import Piscina from "piscina";
import { loadConfig, applyLine } from "./config/config-file";
import { Policy, masqSources } from "./policy/rules";
import { SharedPolicy } from "./policy/shared-policy";
import { formatRules, rulesJson, formatPortfw, portfwJson } from "./policy/listing";
import { policyLines } from "./policy/save";
import { ConfigError } from "./policy/ipchains";
import { findSides, listInterfaces } from "./kernel/interfaces";
import { Wiring, stateFile, PREF_PORTFW, PREF_REDIRECT } from "./kernel/wiring";
import { openTun, closeTun, setPersist, Tun } from "./tun/tun";
import { ip } from "./kernel/ip";
import { AlgState } from "./table/alg-state";
import { takeSnapshot, restoreSnapshot, FlowRecord } from "./table/snapshot";
import { startMetrics } from "./control/metrics";
import { PortMappingServer } from "./control/port-mapping-server";
import { createMemory, CoreKind } from "./core/core";
import { memoryMap } from "./table/memory-map";
import { ConnTable, DEFAULT_TIMEOUTS, Timeouts } from "./table/conntrack";
import { flowJson, formatFlows, formatMasqList, pinholeRows } from "./table/listing";
import { WorkerTask } from "./worker/loop";
import { Sides, Filtering } from "./worker/slow-path";
import { ControlServer, controlSocketPath, statusOf, Answer } from "./control/server";
import { formatAddr, formatPrefix, maskOf } from "./net/addr";
import * as L from "../assembly/layout";

export interface RunOptions {
  config: string;
  core: CoreKind;
  workers: number;
  maxConns: number;
  wan?: string;
  lan?: string;
  tun: string;
  table: number;
  stateDir: string;
  portMin: number;
  portMax: number;
  mssClamp: number;
  workerFile: string; // the module that exports runWorker (the bundle itself when bundled)
  argv: string[]; // the command line, to start the next process on a graceful restart
  handover?: string; // snapshot left by the process that handed over to this one
  metrics?: string; // host:port of the Prometheus endpoint (off when absent)
  filtering: Filtering;
  ftpHelper: boolean;
  pcp: boolean; // NAT-PMP and PCP server on the LAN address
  groHoldUs?: number; // receive offload on the LAN and WAN interfaces, with this hold (off when absent)
}

interface Handover { policy: Policy; flows: FlowRecord[] }

const log = (msg: string): void => { process.stderr.write(`ipmasq: ${msg}\n`); };
const PROTO_NAMES: Record<number, string> = { 6: "tcp", 17: "udp" };

// CAP_NET_ADMIN is bit 12 of the effective capability set.
function hasNetAdmin(): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch { return process.getuid?.() === 0; }
}

// The kernel rules a policy needs besides the fixed wiring: port-forwarded ports are steered into
// the TUN from every interface (hairpin included); a redirect target's replies too.
function policyRules(p: Policy, o: RunOptions): string[][] {
  const T = String(o.table);
  const ifaces = listInterfaces().map((i) => i.name).filter((n) => n !== "lo" && n !== o.tun);
  const rules: string[][] = [];
  for (const f of p.portfw) {
    for (const i of ifaces) rules.push(["pref", String(PREF_PORTFW), "iif", i, "ipproto", PROTO_NAMES[f.proto], "dport", String(f.publicPort), "lookup", T]);
  }
  for (const c of Object.values(p.chains)) {
    for (const r of c.rules) {
      if (r.target !== "REDIRECT") continue;
      const port = r.redirectPort || (r.dst && r.dst.portMin === r.dst.portMax ? r.dst.portMin : 0);
      if (!port) continue;
      for (const proto of r.proto === 0 ? ["tcp", "udp"] : [PROTO_NAMES[r.proto]].filter(Boolean)) {
        rules.push(["pref", String(PREF_REDIRECT), "iif", "lo", "ipproto", proto, "sport", String(port), "lookup", T]);
      }
    }
  }
  const seen = new Set<string>();
  return rules.filter((r) => { const k = r.join(" "); if (seen.has(k)) return false; seen.add(k); return true; });
}

function timeoutsOf(p: Policy): Timeouts {
  const m = p.masqTimeouts;
  return {
    udp: m?.udp || DEFAULT_TIMEOUTS.udp, tcpEstablished: m?.tcp || DEFAULT_TIMEOUTS.tcpEstablished,
    tcpTransitory: m?.tcpFin || DEFAULT_TIMEOUTS.tcpTransitory, icmp: DEFAULT_TIMEOUTS.icmp,
  };
}

// Under systemd (Type=notify): ready, and after a graceful restart, "I am the main process now".
function notifySystemd(): void {
  if (!process.env.NOTIFY_SOCKET) return;
  try {
    execFileSync("systemd-notify", [`--pid=${process.pid}`, "READY=1", `MAINPID=${process.pid}`]);
  } catch (e) {
    log(`systemd-notify failed: ${(e as Error).message}`);
  }
}

export async function runGateway(o: RunOptions): Promise<number> {
  if (!hasNetAdmin()) throw new Error("ipmasq run needs CAP_NET_ADMIN (run it as root): it creates a TUN device and changes routing");
  const journal = stateFile(o.stateDir, o.tun);
  const handed: Handover | undefined = o.handover ? JSON.parse(readFileSync(o.handover, "utf8")) : undefined;
  let policy: Policy;
  if (handed) {
    policy = handed.policy; // the live policy, with unsaved changes
  } else {
    const config = loadConfig(o.config);
    for (const w of config.warnings) log(w);
    policy = config.policy;
    if (Wiring.undo(journal)) log(`restored the kernel settings an earlier run left behind (${journal})`);
  }
  const found = findSides(masqSources(policy), o.wan, o.lan);
  const lanIfaceAddr = found.lan.addrs[0];
  const sides: Sides = {
    publicAddr: found.publicAddr, lanAddr: found.lanAddr, lanIface: found.lan.name, wanIface: found.wan.name, filtering: o.filtering, ftpHelper: o.ftpHelper,
    lanPrefix: { addr: (lanIfaceAddr.addr & maskOf(lanIfaceAddr.bits)) >>> 0, bits: lanIfaceAddr.bits },
  };
  const map = memoryMap(o.workers, o.maxConns);
  const tun: Tun = openTun(o.tun, o.workers, handed !== undefined);
  const wiring = handed ? Wiring.adopt(journal) : new Wiring(journal, { tun: o.tun, table: o.table });
  const undo = (): void => { closeTun(tun); Wiring.undo(journal); };
  try {
    if (!handed) wiring.apply({ tun: o.tun, table: o.table, wan: found.wan.name, publicAddr: formatAddr(found.publicAddr), mtu: Math.min(found.wan.mtu, found.lan.mtu),
      portMin: o.portMin, portMax: o.portMax, lowMin: 600, lowMax: 1023 });
    wiring.syncExtraRules(policyRules(policy, o));
    if (!handed && o.groHoldUs !== undefined) {
      const r = wiring.tuneReceive([found.lan.name, found.wan.name], o.groHoldUs);
      if (r.problem) log(r.problem);
      if (r.changed.length) log(`receive offload on ${r.changed.join(", ")}: GRO, also for forwarded UDP, bursts held up to ${o.groHoldUs} µs`);
    }
  } catch (e) {
    undo();
    throw e;
  }

  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({ seed: randomInt(2 ** 32), portMin: o.portMin, portMax: o.portMax, timeouts: timeoutsOf(policy), mssClamp: o.mssClamp });
  const shared = new SharedPolicy(memory, map.policy);
  shared.publish(policy);
  if (handed) {
    const lost = restoreSnapshot(table, handed.flows);
    log(`took over ${handed.flows.length - lost} connections from the previous process${lost ? ` (${lost} could not keep their port)` : ""}`);
    unlinkSync(o.handover!);
  }
  const started = Date.now();
  table.now = 1;
  const clock = setInterval(() => { table.now = 1 + Math.floor((Date.now() - started) / 1000); }, 1000);
  const algState = new AlgState(table, map.alg);
  const sweeper = setInterval(() => { table.sweep(); algState.expire(); }, 5000);

  const pool = new Piscina({
    filename: o.workerFile, name: "runWorker", minThreads: o.workers, maxThreads: o.workers,
    idleTimeout: Infinity, concurrentTasksPerWorker: 1, maxQueue: 0,
  });
  const tasks = tun.fds.map((fd, id) => {
    const task: WorkerTask = { memory, core: o.core, id, fd, workers: o.workers, maxConns: o.maxConns, sides };
    return pool.run(task);
  });

  // A live command runs on a copy of the policy; only a command that succeeds is applied.
  const change = (kind: "ipchains" | "portfw", args: string[]): Answer => {
    const next: Policy = JSON.parse(JSON.stringify(policy));
    const line = `${kind === "ipchains" ? "ipchains" : "ipmasqadm portfw"} ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(" ")}`;
    let res;
    try {
      res = applyLine(next, "command", 1, line);
    } catch (e) {
      if (e instanceof ConfigError) return { error: `${e.reason} (at "${line.slice(e.column - 1)}")` };
      throw e;
    }
    if (res.zero) shared.zero();
    if (res.list) {
      const numeric = args.includes("-n"), verbose = args.includes("-v");
      if (res.list.masq) {
        const rows = [...table.flows()].map((f) => flowJson(table, f));
        return { ok: { text: formatMasqList(rows), json: rows } };
      }
      if (res.list.chain === "portfw") return { ok: { text: formatPortfw(policy), json: portfwJson(policy) } };
      return { ok: { text: formatRules(policy, shared, { chain: res.list.chain, numeric, verbose }), json: rulesJson(policy, shared, res.list.chain) } };
    }
    wiring.syncExtraRules(policyRules(next, o));
    policy = next;
    table.setTimeouts(timeoutsOf(policy));
    shared.publish(policy);
    return { ok: { text: res.warnings.map((w) => `warning: ${w}\n`).join(""), json: { applied: line, warnings: res.warnings } } };
  };

  const save = (): Answer => {
    const text = policyLines(policy).join("\n") + "\n";
    const tmp = `${o.config}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, o.config);
    return { ok: { text: `saved ${policy ? Object.values(policy.chains).reduce((n, c) => n + c.rules.length, 0) : 0} rules and ${policy.portfw.length} port forwards to ${o.config}\n`, json: { file: o.config } } };
  };

  const view = { table, memory, map, started, options: o, tun };
  const control = new ControlServer(controlSocketPath(o.stateDir, o.tun), (req) => {
    switch (req.cmd) {
      case "status": return { ok: statusOf(view) };
      case "conns": {
        const rows = [...[...table.flows()].map((f) => flowJson(table, f)), ...pinholeRows(algState, sides.publicAddr)];
        return { ok: { text: formatFlows(rows) + "\n", json: rows } };
      }
      case "ipchains": case "portfw": return change(req.cmd, (req.args as string[]) ?? []);
      case "save": return save();
      case "restart": setImmediate(() => void handover()); return { ok: { text: "restarting: the connection table is handed to a new process\n", json: { restarting: true } } };
      default: return { error: `unknown command ${JSON.stringify(req.cmd)}` };
    }
  });
  await control.listen();

  log(`masquerading ${masqSources(policy).map(formatPrefix).join(", ")} from ${found.lan.name} as ${formatAddr(found.publicAddr)} on ${found.wan.name}; ` +
    `${o.workers} worker${o.workers > 1 ? "s" : ""}, ${o.core} core, TUN ${tun.name} (offloads ${tun.offloads.join(",")}), table of ${o.maxConns} connections`);
  process.stdout.write("ready\n");
  notifySystemd();

  const metrics = o.metrics ? await startMetrics(o.metrics, view) : undefined;
  const pcp = o.pcp ? new PortMappingServer(algState, sides.lanAddr, sides.publicAddr) : undefined;
  await pcp?.listen();
  process.send?.("ready"); // to the process that handed over, if any

  let stopping: Promise<void> | undefined;
  const stopWorkers = async (): Promise<void> => {
    Atomics.store(new Int32Array(memory.buffer), (map.tableBase + L.T_STOP) >> 2, 1);
    clearInterval(clock);
    clearInterval(sweeper);
    await Promise.allSettled(tasks);
    await pool.destroy();
    await control.close();
    await new Promise<void>((resolve) => (metrics ? metrics.close(() => resolve()) : resolve()));
    pcp?.close();
  };
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping (${why})`);
      await stopWorkers();
      undo();
      log("kernel settings restored");
    })();
    return stopping;
  };

  // Graceful restart: the TUN device is made persistent (it and its routes outlive our fds), the
  // workers stop, the table and the live policy are written out, and a new process takes over
  // the device, the wiring journal and every connection with its public port.
  let handingOver = false;
  const handover = async (): Promise<void> => {
    if (handingOver || stopping) return;
    handingOver = true;
    log("graceful restart: handing the connection table to a new process");
    setPersist(tun.fds[0], true);
    await stopWorkers();
    const file = join(o.stateDir, `handover-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ policy, flows: takeSnapshot(table) } satisfies Handover), { mode: 0o600 });
    closeTun(tun);
    const args = o.argv.filter((a, i) => a !== "--handover" && o.argv[i - 1] !== "--handover");
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, "--handover", file], { stdio: ["inherit", "inherit", "inherit", "ipc"] });
    const ok = await new Promise<boolean>((resolve) => {
      child.once("message", (m) => resolve(m === "ready"));
      child.once("exit", () => resolve(false));
    });
    if (ok) {
      child.disconnect();
      child.unref();
      log(`handed over to process ${child.pid}`);
      process.exit(0);
    }
    log("the new process failed to start: removing the gateway");
    try { ip("link", "del", o.tun); } catch { /* already gone */ }
    Wiring.undo(journal);
    process.exit(1);
  };

  return new Promise<number>((resolve) => {
    const finish = (why: string, code: number): void => { if (!handingOver) void stop(why).then(() => resolve(code)); };
    process.on("SIGINT", () => finish("SIGINT", 0));
    process.on("SIGTERM", () => finish("SIGTERM", 0));
    process.on("SIGHUP", () => void handover());
    Promise.race(tasks).then(
      () => finish("a worker ended", 1),
      (e) => { log(`worker failed: ${(e as Error).stack ?? e}`); finish("worker failure", 1); });
  });
}

export const defaultStateDir = (): string => (existsSync("/run") ? join("/run", "ipmasq") : join("/tmp", "ipmasq"));
