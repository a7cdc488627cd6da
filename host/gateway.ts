// `ipmasq run`: brings the gateway up in the current network namespace, runs it in the
// foreground, and on exit or signal puts the kernel back exactly as it was.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { randomInt } from "node:crypto";
import Piscina from "piscina";
import { loadConfig } from "./config/config-file";
import { masqSources } from "./policy/rules";
import { findSides } from "./kernel/interfaces";
import { Wiring, stateFile } from "./kernel/wiring";
import { openTun, closeTun, Tun } from "./tun/tun";
import { createMemory, CoreKind } from "./core/core";
import { memoryMap } from "./table/memory-map";
import { ConnTable, DEFAULT_TIMEOUTS } from "./table/conntrack";
import { WorkerTask } from "./worker/loop";
import { ControlServer, controlSocketPath } from "./control/server";
import { formatAddr, formatPrefix } from "./net/addr";
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
}

const log = (msg: string): void => { process.stderr.write(`ipmasq: ${msg}\n`); };

// CAP_NET_ADMIN is bit 12 of the effective capability set.
function hasNetAdmin(): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch { return process.getuid?.() === 0; }
}

export async function runGateway(o: RunOptions): Promise<number> {
  if (!hasNetAdmin()) throw new Error("ipmasq run needs CAP_NET_ADMIN (run it as root): it creates a TUN device and changes routing");
  const config = loadConfig(o.config);
  const journal = stateFile(o.stateDir, o.tun);
  if (Wiring.undo(journal)) log(`restored the kernel settings an earlier run left behind (${journal})`);
  const sides = findSides(masqSources(config.policy), o.wan, o.lan);
  const map = memoryMap(o.workers, o.maxConns);
  const tun: Tun = openTun(o.tun, o.workers);
  const wiring = new Wiring(journal, { tun: o.tun, table: o.table });
  const undo = (): void => { closeTun(tun); Wiring.undo(journal); };
  try {
    wiring.apply({ tun: o.tun, table: o.table, wan: sides.wan.name, mtu: Math.min(sides.wan.mtu, sides.lan.mtu),
      portMin: o.portMin, portMax: o.portMax, lowMin: 600, lowMax: 1023 });
  } catch (e) {
    undo();
    throw e;
  }

  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({ seed: randomInt(2 ** 32), portMin: o.portMin, portMax: o.portMax, timeouts: DEFAULT_TIMEOUTS, mssClamp: o.mssClamp });
  const started = Date.now();
  table.now = 1;
  const clock = setInterval(() => { table.now = 1 + Math.floor((Date.now() - started) / 1000); }, 1000);
  const sweeper = setInterval(() => table.sweep(), 5000);

  const pool = new Piscina({
    filename: o.workerFile, name: "runWorker", minThreads: o.workers, maxThreads: o.workers,
    idleTimeout: Infinity, concurrentTasksPerWorker: 1, maxQueue: 0,
  });
  const tasks = tun.fds.map((fd, id) => {
    const task: WorkerTask = { memory, core: o.core, id, fd, workers: o.workers, maxConns: o.maxConns,
      publicAddr: sides.publicAddr, lanAddr: sides.lanAddr, wanIface: sides.wan.name, policy: config.policy };
    return pool.run(task);
  });

  const control = new ControlServer(controlSocketPath(o.stateDir, o.tun), { table, memory, map, started, options: o, tun });
  await control.listen();

  log(`masquerading ${masqSources(config.policy).map(formatPrefix).join(", ")} from ${sides.lan.name} as ${formatAddr(sides.publicAddr)} on ${sides.wan.name}; ` +
    `${o.workers} worker${o.workers > 1 ? "s" : ""}, ${o.core} core, TUN ${tun.name} (offloads ${tun.offloads.join(",")}), table of ${o.maxConns} connections`);
  process.stdout.write("ready\n");

  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping (${why})`);
      Atomics.store(new Int32Array(memory.buffer), (map.tableBase + L.T_STOP) >> 2, 1);
      clearInterval(clock);
      clearInterval(sweeper);
      await Promise.allSettled(tasks);
      await pool.destroy();
      await control.close();
      undo();
      log("kernel settings restored");
    })();
    return stopping;
  };
  return new Promise<number>((resolve) => {
    const finish = (why: string, code: number): void => { void stop(why).then(() => resolve(code)); };
    process.on("SIGINT", () => finish("SIGINT", 0));
    process.on("SIGTERM", () => finish("SIGTERM", 0));
    Promise.race(tasks).then(
      () => finish("a worker ended", 1),
      (e) => { log(`worker failed: ${(e as Error).stack ?? e}`); finish("worker failure", 1); });
  });
}

export const defaultStateDir = (): string => (existsSync("/run") ? join("/run", "ipmasq") : join("/tmp", "ipmasq"));
