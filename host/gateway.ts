// `ipmasq run`: brings the gateway up in the current network namespace, runs it in the
// foreground, follows the network (WAN address, links, devices), takes live changes through the
// control socket, and on exit or signal puts the kernel back exactly as it was.
import { spawn, execFileSync } from "node:child_process";
import { join } from "node:path";
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { randomInt } from "node:crypto";
import Piscina from "piscina";
import { loadConfig, applyLine } from "./config/config-file";
import { Policy, masqSources } from "./policy/rules";
import { SharedPolicy } from "./policy/shared-policy";
import { formatRules, rulesJson, formatPortfw, portfwJson } from "./policy/listing";
import { policyLines } from "./policy/save";
import { ConfigError } from "./policy/ipchains";
import { readNetwork, lanInterfaces } from "./kernel/interfaces";
import { Wiring, stateFile } from "./kernel/wiring";
import { NetworkFollower } from "./kernel/follow-network";
import { NetlinkMonitor } from "./kernel/monitor";
import { ip } from "./kernel/ip";
import { AlgState } from "./table/alg-state";
import { takeSnapshot, restoreSnapshot, FlowRecord } from "./table/snapshot";
import { startMetrics } from "./control/metrics";
import { PortMappingServer } from "./control/port-mapping-server";
import { createMemory, CoreKind } from "./core/core";
import { memoryMap } from "./table/memory-map";
import { ConnTable, DEFAULT_TIMEOUTS, Timeouts, LOW_PORT_MIN, LOW_PORT_MAX } from "./table/conntrack";
import { flowJson, formatFlows, formatMasqList, pinholeRows } from "./table/listing";
import { WorkerTask } from "./worker/loop";
import { Filtering } from "./worker/slow-path";
import { SpoofCheck } from "./worker/reverse-path";
import { sharedNetworkView } from "./net/network-view";
import { ControlServer, controlSocketPath, statusOf, Answer } from "./control/server";
import { formatAddr, formatPrefix } from "./net/addr";
import { InstanceLock } from "./state/instance";
import { readPrivateFile, writePrivateFile } from "./state/private-files";
import * as L from "../assembly/layout";

export { defaultStateDir } from "./state/private-files";

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
  pcp: boolean; // NAT-PMP and PCP server on the LAN interfaces
  groHoldUs?: number; // receive offload on the LAN and WAN interfaces, with this hold (off when absent)
  spoofCheck: SpoofCheck;
}

// The process started by a graceful restart finds the instance lock on this descriptor.
const HANDOVER_LOCK_FD = 4;

interface Handover { policy: Policy; flows: FlowRecord[] }

const log = (msg: string): void => { process.stderr.write(`ipmasq: ${msg}\n`); };

// CAP_NET_ADMIN is bit 12 of the effective capability set.
function hasNetAdmin(): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch { return process.getuid?.() === 0; }
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
  // one gateway per namespace and TUN name: the lock comes before any journal is read
  const lock = o.handover ? InstanceLock.inherit(HANDOVER_LOCK_FD, o.stateDir, o.tun) : InstanceLock.take(o.stateDir, o.tun);
  try {
    return await runLocked(o, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function runLocked(o: RunOptions, lock: InstanceLock): Promise<number> {
  const journal = stateFile(o.stateDir, o.tun);
  const handed: Handover | undefined = o.handover ? JSON.parse(readPrivateFile(o.handover).toString()) : undefined;
  let policy: Policy;
  if (handed) {
    policy = handed.policy; // the live policy, with unsaved changes
  } else {
    const config = loadConfig(o.config);
    for (const w of config.warnings) log(w);
    policy = config.policy;
    const recovered = Wiring.recover(journal);
    if (recovered) log(recovered);
  }
  const net = readNetwork();
  const lans = lanInterfaces(net.interfaces.filter((i) => i.name !== "lo"), masqSources(policy), o.wan ?? net.defaultDev, o.lan);
  if (lans.length === 0) {
    if (o.lan) throw new Error(`interface ${o.lan} does not exist (have: ${net.interfaces.map((x) => x.name).join(", ")})`);
    const nets = masqSources(policy);
    throw new Error(`no interface has an address in the masqueraded network${nets.length > 1 ? "s" : ""} ${nets.map(formatPrefix).join(", ") || "(no MASQ rule with -s)"}: pass --lan IF`);
  }

  const map = memoryMap(o.workers, o.maxConns);
  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({ seed: randomInt(2 ** 32), portMin: o.portMin, portMax: o.portMax, timeouts: timeoutsOf(policy), mssClamp: o.mssClamp });
  const shared = new SharedPolicy(memory, map.policy);
  shared.publish(policy);

  const wiring = handed ? Wiring.adopt(journal) : new Wiring(journal, { tun: o.tun, table: o.table });
  const follower = new NetworkFollower(
    { tun: o.tun, table: o.table, queues: o.workers, wan: o.wan, lan: o.lan, groHoldUs: o.groHoldUs, natRanges: [`${o.portMin}-${o.portMax}`, `${LOW_PORT_MIN}-${LOW_PORT_MAX}`] },
    wiring, sharedNetworkView(memory, map.network),
    {
      policy: () => policy,
      log,
      // a new WAN address: what was bound to the old one is forgotten, port forwards follow
      publicChanged: (old, now) => {
        if (!old || old === now) return "";
        const forgotten = table.forgetAddress(old);
        const moved = policy.portfw.filter((f) => f.publicAddr === old);
        for (const f of moved) f.publicAddr = now;
        if (moved.length) shared.publish(policy);
        return `: ${forgotten} mapping${forgotten === 1 ? "" : "s"} of the old address forgotten${moved.length ? `, ${moved.length} port forward${moved.length === 1 ? "" : "s"} moved to the new one` : ""}`;
      },
    });
  try {
    follower.start(handed !== undefined);
  } catch (e) {
    follower.close();
    Wiring.undo(journal);
    throw e;
  }
  const reconcile = (): void => {
    try { follower.reconcile(); } catch (e) { log(`following the network: ${(e as Error).message} (tried again on the next change)`); }
  };
  const monitor = new NetlinkMonitor(reconcile, log);
  monitor.start();

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
  const tasks = Array.from({ length: o.workers }, (_, id) => {
    const task: WorkerTask = { memory, core: o.core, id, workers: o.workers, maxConns: o.maxConns, options: { filtering: o.filtering, ftpHelper: o.ftpHelper, spoofCheck: o.spoofCheck } };
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
    const before = policy;
    policy = next;
    try {
      follower.reconcile(); // the rules that follow the policy (port forwards, redirects)
    } catch (e) {
      policy = before;
      reconcile();
      return { error: `not applied: ${(e as Error).message}` };
    }
    table.setTimeouts(timeoutsOf(policy));
    shared.publish(policy);
    return { ok: { text: res.warnings.map((w) => `warning: ${w}\n`).join(""), json: { applied: line, warnings: res.warnings } } };
  };

  const save = (): Answer => {
    const text = policyLines(policy).join("\n") + "\n";
    try {
      writePrivateFile(o.config, text);
    } catch (e) {
      // under the systemd unit only the file itself is writable, not its directory: in place
      if ((e as NodeJS.ErrnoException).code !== "EROFS") throw e;
      writeFileSync(o.config, text);
    }
    return { ok: { text: `saved ${Object.values(policy.chains).reduce((n, c) => n + c.rules.length, 0)} rules and ${policy.portfw.length} port forwards to ${o.config}\n`, json: { file: o.config } } };
  };

  let pcp: PortMappingServer | undefined;
  const network = () => ({
    tun: o.tun, offloads: follower.offloads,
    devices: wiring.devices.map((d) => ({ iface: d.iface, device: d.name })),
    wan: follower.wan ?? "", publicAddress: follower.publicAddr ? formatAddr(follower.publicAddr) : "",
    ...(follower.waiting ? { waiting: follower.waiting } : {}),
    portMappingRefused: pcp?.refused ?? 0,
  });
  const view = { table, memory, map, started, options: o, network };
  const control = new ControlServer(controlSocketPath(o.stateDir, o.tun), (req) => {
    switch (req.cmd) {
      case "status": return { ok: statusOf(view) };
      case "conns": {
        const rows = [...[...table.flows()].map((f) => flowJson(table, f)), ...pinholeRows(algState, follower.publicAddr)];
        return { ok: { text: formatFlows(rows) + "\n", json: rows } };
      }
      case "ipchains": case "portfw": return change(req.cmd, (req.args as string[]) ?? []);
      case "save": return save();
      case "restart": setImmediate(() => void handover()); return { ok: { text: "restarting: the connection table is handed to a new process\n", json: { restarting: true } } };
      default: return { error: `unknown command ${JSON.stringify(req.cmd)}` };
    }
  });
  await control.listen();

  const lanNames = follower.lanInterfaces().map((i) => i.name);
  log(`masquerading ${masqSources(policy).map(formatPrefix).join(", ")} from ${lanNames.join(", ")} as ${follower.publicAddr ? formatAddr(follower.publicAddr) : "(waiting for the WAN)"}${follower.wan ? ` on ${follower.wan}` : ""}; ` +
    `${o.workers} worker${o.workers > 1 ? "s" : ""}, ${o.core} core, TUN ${follower.deviceNames.join(", ")} (offloads ${follower.offloads.join(",")}), table of ${o.maxConns} connections, spoof check ${o.spoofCheck}`);
  process.stdout.write("ready\n");
  notifySystemd();

  const metrics = o.metrics ? await startMetrics(o.metrics, view) : undefined;
  if (o.pcp) {
    pcp = new PortMappingServer(algState, () => masqSources(policy), () => follower.publicAddr);
    await pcp.listen(lanNames);
  }
  process.send?.("ready"); // to the process that handed over, if any

  let stopping: Promise<void> | undefined;
  const stopWorkers = async (): Promise<void> => {
    monitor.stop();
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
      follower.close();
      Wiring.undo(journal);
      lock.release();
      log("kernel settings restored");
    })();
    return stopping;
  };

  // Graceful restart: the TUN devices are made persistent (they and their routes outlive our
  // fds), the workers stop, the table and the live policy are written out, and a new process
  // takes over the devices, the wiring journal, the instance lock and every connection.
  let handingOver = false;
  const handover = async (): Promise<void> => {
    if (handingOver || stopping) return;
    handingOver = true;
    log("graceful restart: handing the connection table to a new process");
    follower.persist();
    await stopWorkers();
    const file = join(o.stateDir, `handover-${process.pid}.json`);
    writePrivateFile(file, JSON.stringify({ policy, flows: takeSnapshot(table) } satisfies Handover));
    follower.close();
    const args = o.argv.filter((a, i) => a !== "--handover" && o.argv[i - 1] !== "--handover");
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, "--handover", file],
      { stdio: ["inherit", "inherit", "inherit", "ipc", lock.fd] });
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
    for (const name of follower.deviceNames) { try { ip("link", "del", name); } catch { /* already gone */ } }
    Wiring.undo(journal);
    lock.release();
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
