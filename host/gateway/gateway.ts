// `ipmasq run`: the composition root. Takes the lock, refuses what it can before the kernel is
// touched, then brings the gateway up in the current network namespace as one ordered list of
// parts (runLocked's), runs it in the foreground, and on exit or signal stops the parts in
// reverse, which puts the kernel back exactly as it was. What each part does lives in its own
// file: the network and its wiring in host/kernel/, live commands in host/control/, status and
// events in host/observe/, the graceful restart in handover.ts.
import { execFileSync } from "node:child_process";
import type { Server } from "node:http";
import { readFileSync, unlinkSync } from "node:fs";
import { randomInt } from "node:crypto";
import Piscina from "piscina";
import { loadConfig } from "../config/config-file";
import { type Policy, masqSources, masqSources6 } from "../policy/rules";
import { SharedPolicy } from "../policy/shared-policy";
import { readNetwork, lanInterfaces, type Iface } from "../kernel/interfaces";
import { Wiring, stateFile } from "../kernel/wiring";
import { NetworkFollower } from "../kernel/follow-network";
import { HOLD_SAMPLE_MS } from "../kernel/receive-hold";
import { NetlinkMonitor } from "../kernel/monitor";
import { AlgState } from "../table/alg-state";
import { restoreSnapshot, restoreSnapshot6 } from "../table/snapshot";
import { startMetrics } from "../observe/metrics";
import { EventLog } from "../observe/event-log";
import { Throughput, trafficTotals } from "../observe/throughput";
import { UpnpServer } from "../portmap/upnp/upnp-server";
import { pinholeRows } from "../table/listing";
import { igdBackend } from "../portmap/upnp/backend";
import { startStatusPage, webListen } from "../web/status-page";
import { PortMappingServer } from "../portmap/port-mapping-server";
import { ControlServer, controlSocketPath } from "../control/server";
import { statusOf } from "../observe/status";
import { controlHandler } from "../control/dispatch";
import { createMemory } from "../core/core";
import { memoryMap } from "../shm/memory-map";
import { ConnTable, LOW_PORT_MIN, LOW_PORT_MAX } from "../table/conntrack";
import type { WorkerTask } from "../worker/loop";
import { allReading } from "../worker/readiness";
import { sharedNetworkView } from "../net/network-view";
import { formatNpt6 } from "../net/npt6";
import { parsePrefix6, inPrefix6, parseAddr6 } from "../net/addr6";
import { formatAddr, formatPrefix, parseAddr, inPrefix, type Prefix } from "../net/addr";
import { InstanceLock } from "../state/instance";
import { Parts } from "./parts";
import { MAPPERS, type MappedBy } from "../portmap/mapping-change";
import { sweepGone } from "../state/sweep";
import { GatewayState, timeoutsOf, translations6 } from "./gateway-state";
import { HANDOVER_LOCK_FD, handOver, readHandover, type Handover } from "./handover";
import type { RunOptions } from "./run-options";
import * as L from "../../assembly/layout";
import { libc } from "../tun/libc";
import { TableSync } from "../sync/table-sync";
import { readSecret } from "../state/private-files";
import { bindToDevice } from "../net/bind-device";
import { routeDev } from "../net/routes";

export { defaultStateDir } from "../state/private-files";
export type { RunOptions } from "./run-options";

const log = (msg: string): void => {
  process.stderr.write(`ipmasq: ${msg}\n`);
};

// CAP_NET_ADMIN is bit 12 of the effective capability set.
function hasNetAdmin(): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return process.getuid?.() === 0;
  }
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
  if (!hasNetAdmin())
    throw new Error("ipmasq run needs CAP_NET_ADMIN (run it as root): it creates a TUN device and changes routing");
  // one gateway per namespace and TUN name: the lock comes before any journal is read
  const lock = o.handover
    ? InstanceLock.inherit(HANDOVER_LOCK_FD, o.stateDir, o.tun)
    : InstanceLock.take(o.stateDir, o.tun);
  for (const line of sweepGone(o.stateDir)) log(line);
  try {
    return await runLocked(o, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

// The policy to start with: the one handed over, or the config file's (after the journal of a
// run that did not stop cleanly is undone).
function startingPolicy(o: RunOptions, handed: Handover | undefined, journal: string): Policy {
  if (handed) return handed.policy; // the live policy, with unsaved changes
  const config = loadConfig(o.config);
  for (const w of config.warnings) log(w);
  const recovered = Wiring.recover(journal);
  if (recovered) log(recovered);
  return config.policy;
}

// The LAN interfaces as they are now, or why there are none.
function requireLan(o: RunOptions, policy: Policy): Iface[] {
  const net = readNetwork();
  const lan = lanInterfaces(
    net.interfaces.filter((i) => i.name !== "lo"),
    masqSources(policy),
    o.wan ?? net.defaultDev,
    o.lan,
  );
  if (lan.length > 0) return lan;
  if (o.lan)
    throw new Error(`interface ${o.lan} does not exist (have: ${net.interfaces.map((x) => x.name).join(", ")})`);
  const nets = masqSources(policy);
  throw new Error(
    `no interface has an address in the masqueraded network${nets.length > 1 ? "s" : ""} ${nets.map(formatPrefix).join(", ") || "(no MASQ rule with -s)"}: pass --lan IF`,
  );
}

// The address a LAN interface is reached at: the one in a masqueraded network, else its first.
function lanAddressOf(i: Iface, nets: Prefix[]): number {
  return (i.addrs.find((a) => nets.some((p) => inPrefix(a.addr, p))) ?? i.addrs[0]).addr;
}

async function runLocked(o: RunOptions, lock: InstanceLock): Promise<number> {
  const journal = stateFile(o.stateDir, o.tun);
  const handed = o.handover ? readHandover(o.handover) : undefined;
  const policy = startingPolicy(o, handed, journal);
  const lan = requireLan(o, policy);
  // what can be refused is refused before the kernel is touched
  const why6 = translations6(o, policy);
  if (why6) throw new Error(why6);
  const webAt = o.web
    ? webListen(
        o.web,
        o.webToken,
        lan.flatMap((i) => i.addrs.map((a) => a.addr)),
      )
    : undefined;
  const syncKey = o.sync ? readSecret(o.sync.keyFile, "--sync-key", 32) : undefined;
  const eventLog = o.logEvents ? EventLog.open(o.logEvents, o.logEventsRate) : undefined;

  // the shared memory and what lives in it; nothing here touches the kernel
  const map = memoryMap(o.workers, o.maxConns);
  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({
    seed: randomInt(2 ** 32),
    portMin: o.portMin,
    portMax: o.portMax,
    timeouts: timeoutsOf(policy),
    mssClamp: o.mssClamp,
    npt6: o.npt6,
  });
  const shared = new SharedPolicy(memory, map.policy);
  shared.publish(policy);
  table.hostLimit = handed?.hostLimit ?? o.maxConnsPerHost;
  for (const h of handed?.hosts ?? []) table.hosts.restore(h);
  for (const [addr, c] of handed?.hosts6 ?? []) table.v6.ended.set(addr, c);
  const wiring = handed ? Wiring.adopt(journal) : new Wiring(journal, { tun: o.tun, table: o.table });
  const follower = new NetworkFollower(
    {
      tun: o.tun,
      table: o.table,
      queues: o.workers,
      wan: o.wan,
      lan: o.lan,
      groHoldUs: o.groHoldUs,
      groBusyPps: o.groBusyPps,
      natRanges: [`${o.portMin}-${o.portMax}`, `${LOW_PORT_MIN}-${LOW_PORT_MAX}`],
      publicAddr: o.publicAddr,
      publicAddr6: o.publicAddr6,
    },
    wiring,
    sharedNetworkView(memory, map.network),
    policy,
    log,
  );
  const g = new GatewayState(o, policy, table, shared, new AlgState(table, map.alg), wiring, follower, log, () =>
    g.eventLog?.flush(),
  );
  if (handed?.role) g.setRole(handed.role);

  const monitor = new NetlinkMonitor(() => g.follower.reconcile(), log);
  const timers: NodeJS.Timeout[] = [];
  const traffic = new Throughput(memory, map, () => table.live);
  let pool: Piscina | undefined,
    tasks: Array<Promise<unknown>> = [];
  let metrics: Server | undefined, web: Server | undefined, upnp: UpnpServer | undefined;
  const lanNames = (): string[] => g.follower.lanInterfaces().map((i) => i.name);
  const control = new ControlServer(
    controlSocketPath(o.stateDir, o.tun),
    controlHandler(g, () => void restart()),
  );

  // The gateway, in the order it comes up; it goes down in the reverse order. A graceful restart
  // stops everything above the devices and hands those to the new process.
  const DEVICES = "TUN devices and kernel wiring";
  const parts = new Parts(log);
  const startUp = parts.start([
    {
      name: DEVICES,
      start: () => {
        g.follower.start(handed !== undefined);
        // A pair member that finds its public address already here was restarted on the master
        // (keepalived, still master, calls no notify script again): it is master.
        if (o.sync && !handed && o.publicAddr !== undefined && g.follower.publicAddr === o.publicAddr) {
          g.setRole("master");
          log("the public address is on the WAN interface: this gateway is the pair's master");
        }
      },
      stop: () => {
        g.follower.close();
        Wiring.undo(journal);
      },
    },
    { name: "network monitor", start: () => monitor.start(), stop: () => monitor.stop() },
    {
      name: "connections handed over",
      start: () => {
        table.now = 1;
        if (!handed) return;
        const lost = restoreSnapshot(table, handed.flows);
        const flows6 = handed.flows6 ?? [];
        const lost6 = restoreSnapshot6(table, flows6);
        for (const p of handed.pinholes ?? []) {
          g.alg.pinhole(p.proto, p.lanAddr, p.lanPort, p.port, Math.max(1, p.expiresIn), true, {
            by: MAPPERS.includes(p.by as MappedBy) ? p.by : "",
            description: p.description,
          });
        }
        if (handed.pinholes?.length) g.mappingsChanged(); // their ip rules
        for (const p of handed.pinholes6 ?? []) {
          const addr = parseAddr6(p.addr);
          const wanPort = p.wanPort ? table.v6.holdMapping(p.proto, addr, p.port, p.wanPort) : 0;
          table.pinholes6.open(p.proto, addr, p.port, p.expiresIn, Math.max(0, wanPort));
        }
        log(
          `took over ${handed.flows.length - lost} connections and ${flows6.length - lost6} IPv6 flows from the previous process${lost ? ` (${lost} could not keep their port)` : ""}`,
        );
        unlinkSync(o.handover!);
        // the records are in the table now; `handed` lives as long as the process (the closures
        // below read its other fields): a million records would stay on the heap (~400 MB)
        handed.flows = [];
        handed.flows6 = [];
        handed.hosts = [];
        handed.hosts6 = [];
      },
    },
    {
      name: "clock and sweeps",
      start: () =>
        timers.push(
          setInterval(() => {
            table.now = 1 + Math.floor((Date.now() - g.started) / 1000);
          }, 1000),
          // every 5 s: expired flows and mappings go, and per-host rates get a sample to average over
          setInterval(() => {
            table.sweep();
            g.expireMappings();
            g.hosts.sample();
          }, 5000),
          setInterval(giveBackMemory, 60_000),
          setInterval(() => g.follower.sampleReceive(), HOLD_SAMPLE_MS),
        ),
      stop: () => timers.forEach(clearInterval),
    },
    {
      name: "connection events",
      start: () => {
        g.eventLog = eventLog;
        if (eventLog) g.events.subscribe((e) => eventLog.add(e));
        g.events.start();
      },
      stop: () => {
        g.events.stop();
        g.eventLog?.close();
      },
    },
    { name: "traffic meter", start: () => traffic.start(), stop: () => traffic.stop() },
    {
      name: "workers",
      start: async () => {
        pool = new Piscina({
          filename: o.workerFile,
          name: "runWorker",
          minThreads: o.workers,
          maxThreads: o.workers,
          idleTimeout: Infinity,
          concurrentTasksPerWorker: 1,
          maxQueue: 0,
          recordTiming: false, // its histograms (0.7 MB) would measure the one task each worker runs for ever
        });
        tasks = Array.from({ length: o.workers }, (_, id) => {
          const task: WorkerTask = {
            memory,
            core: o.core,
            id,
            workers: o.workers,
            maxConns: o.maxConns,
            options: { filtering: o.filtering, ftpHelper: o.ftpHelper, spoofCheck: o.spoofCheck },
            busyPollUs: o.busyPollUs,
            pin: o.pin,
          };
          return pool!.run(task);
        });
        await allReading(memory, map, o.workers, tasks); // "ready" means forwarding
      },
      stop: async () => {
        Atomics.store(new Int32Array(memory.buffer), (map.tableBase + L.T_STOP) >> 2, 1);
        await Promise.allSettled(tasks);
        await pool?.destroy();
      },
    },
    { name: "control socket", start: () => control.listen(), stop: () => control.close() },
    ...(o.metrics
      ? [
          {
            name: "metrics endpoint",
            start: async () => {
              metrics = await startMetrics(o.metrics!, g);
            },
            stop: () => new Promise<void>((resolve) => (metrics ? metrics.close(() => resolve()) : resolve())),
          },
        ]
      : []),
    ...(webAt
      ? [
          {
            name: "status page",
            start: async () => {
              web = await startStatusPage(webAt, {
                status: () => statusOf(g),
                table,
                mappings: () => pinholeRows(g.alg, g.follower.publicAddr, g.table),
                hosts: g.hosts,
                traffic,
              });
              log(`status page at http://${webAt.host}:${webAt.port}/${webAt.token ? " (asks for the token)" : ""}`);
            },
            stop: async () => {
              web?.closeAllConnections();
              await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
            },
          },
        ]
      : []),
    ...(o.sync
      ? [
          {
            name: "HA table sync",
            start: async () => {
              g.sync = startSync(o.sync!, syncKey!, g, log);
              await g.sync.start();
              g.events.subscribeRaw((e) => g.sync?.event(e));
              log(
                `HA pair: table sync with ${g.sync.peer}; ${g.role}${g.role === "master" ? "" : " (forwarding nothing until `ipmasq role master`)"}`,
              );
            },
            stop: () => g.sync?.stop(),
          },
        ]
      : []),
    ...(o.pcp
      ? [
          {
            name: "NAT-PMP and PCP",
            start: async () => {
              g.pcp = new PortMappingServer(
                g.alg,
                () => masqSources(g.policy),
                () => g.follower.publicAddr,
                (m) => g.mappingChanged(m),
                {
                  pinholes: g.table.pinholes6,
                  lanPrefixes: () => g.follower.lanPrefixes6.map((p) => parsePrefix6(p.prefix)),
                  onPinhole: log,
                  nat66: {
                    masqueraded: (a) => masqSources6(g.policy).some((p) => inPrefix6(a, p)),
                    address: () => g.table.v6.masqAddress,
                    hold: (proto, lan, lanPort, want) => g.table.v6.holdMapping(proto, lan, lanPort, want),
                    release: (proto, lan, lanPort) => g.table.v6.releaseMapping(proto, lan, lanPort),
                  },
                },
              );
              await g.pcp.listen(lanNames());
            },
            stop: () => g.pcp?.close(),
          },
        ]
      : []),
    ...(o.upnp
      ? [
          {
            name: "UPnP IGD",
            start: async () => {
              const counters = (): {
                bytesSent: number;
                bytesReceived: number;
                packetsSent: number;
                packetsReceived: number;
              } => {
                const t = trafficTotals(memory, map);
                return {
                  bytesSent: t.bytesOut,
                  bytesReceived: t.bytesIn,
                  packetsSent: t.pktsOut,
                  packetsReceived: t.pktsIn,
                };
              };
              const fromLan = (a: string): boolean => {
                try {
                  return masqSources(g.policy).some((p) => inPrefix(parseAddr(a), p));
                } catch {
                  return false;
                }
              };
              upnp = new UpnpServer(igdBackend(g, g.started, counters), fromLan, o.tun);
              g.onMappings = () => upnp?.changed();
              await upnp.listen(
                g.follower
                  .lanInterfaces()
                  .map((i) => ({ iface: i.name, addr: formatAddr(lanAddressOf(i, masqSources(g.policy))) })),
                handed?.upnpPort,
              );
              log(`UPnP IGD on ${lanNames().join(", ")}`);
            },
            stop: () => upnp?.close(),
          },
        ]
      : []),
  ]);

  let handingOver = false,
    stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping (${why})`);
      await parts.stop();
      lock.release();
      log("kernel settings restored");
    })();
    return stopping;
  };
  const restart = async (): Promise<void> => {
    if (handingOver || stopping) return;
    handingOver = true;
    await handOver(g, lock, journal, () => parts.stop(DEVICES), log, upnp?.port);
  };

  try {
    await startUp;
  } catch (e) {
    log(`could not start: ${(e as Error).message}; kernel settings restored`);
    throw e;
  }
  log(
    `masquerading ${masqSources(policy).map(formatPrefix).join(", ")} from ${lanNames().join(", ")} as ${g.follower.publicAddr ? formatAddr(g.follower.publicAddr) : "(waiting for the WAN)"}${g.follower.wan ? ` on ${g.follower.wan}` : ""}; ` +
      `${o.workers} worker${o.workers > 1 ? "s" : ""}, ${o.core} core, TUN ${g.follower.deviceNames.join(", ")} (offloads ${g.follower.offloads.join(",")}), table of ${o.maxConns} connections, spoof check ${o.spoofCheck}`,
  );
  for (const m of o.npt6) log(`NPTv6: ${formatNpt6(m).replace("=", " leaves by the WAN as ")} (and comes back to it)`);
  process.stdout.write("ready\n");
  giveBackMemory(); // what starting needed (parsing, compiling the core) and freed
  notifySystemd();
  process.send?.("ready"); // to the process that handed over, if any

  return new Promise<number>((resolve) => {
    const finish = (why: string, code: number): void => {
      if (!handingOver) void stop(why).then(() => resolve(code));
    };
    process.on("SIGINT", () => finish("SIGINT", 0));
    process.on("SIGTERM", () => finish("SIGTERM", 0));
    process.on("SIGHUP", () => void restart());
    Promise.race(tasks).then(
      () => finish("a worker ended", 1),
      (e) => {
        log(`worker failed: ${(e as Error).stack ?? e}`);
        finish("worker failure", 1);
      },
    );
  });
}

// glibc keeps what the threads freed for their next allocations; a gateway runs for months on a
// board with little memory, so what starting (parsing, compiling the core) or a burst of
// connections used goes back to the system (3-4 MB after the start).
function giveBackMemory(): void {
  libc().mallocTrim(0);
}

// The HA pair's table sync (host/sync/table-sync.ts): on the sync link's address, its socket
// bound to that interface, so nothing listens on the WAN for it.
function startSync(
  s: NonNullable<RunOptions["sync"]>,
  key: Buffer,
  g: GatewayState,
  log: (msg: string) => void,
): TableSync {
  const net = readNetwork();
  const dev = s.dev ?? routeDev(net.routes, s.peer);
  const iface = net.interfaces.find((i) => i.name === dev);
  if (!dev || !iface)
    throw new Error(
      `--sync-peer ${formatAddr(s.peer)}: ${dev ? `no interface ${dev}` : "no route to it"} (name the sync link with --sync-dev IF)`,
    );
  const own = iface.addrs.find((a) => inPrefix(s.peer, a)) ?? iface.addrs[0];
  if (!own) throw new Error(`--sync-dev ${dev} has no IPv4 address`);
  if (dev === g.follower.wan)
    throw new Error(
      `the table sync would run over the WAN interface ${dev}: give the pair a link of its own or the LAN (--sync-dev IF)`,
    );
  return new TableSync({ peer: s.peer, port: s.port, bindAddr: own.addr, dev, key }, g.table, g.alg, {
    role: () => g.role,
    policyJson: () => JSON.stringify(g.policy),
    applyPolicy: (json) => {
      let p: Policy;
      try {
        p = JSON.parse(json) as Policy;
      } catch {
        return "it is not JSON";
      }
      if (!p || typeof p !== "object" || !Array.isArray(p.portfw) || typeof p.chains !== "object")
        return "it is not a policy";
      return g.setPolicy(p);
    },
    log,
    bindToDevice,
  });
}
