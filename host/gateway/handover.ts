// Graceful restart (`ipmasq restart`, SIGHUP): the TUN devices are made persistent (they and their
// routes outlive our fds), the workers stop, the table and the live policy are written out, and a
// new process takes over the devices, the wiring journal, the instance lock (the same open file,
// passed as its fd 4) and every connection with its public port. If the new process fails to
// start, the gateway is taken down cleanly instead.
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Policy } from "../policy/rules";
import { type FlowRecord, type Flow6Record, takeSnapshot, takeSnapshot6 } from "../table/snapshot";
import type { HostCounters, HostRecord } from "../table/host-totals";
import type { GatewayState } from "./gateway-state";
import { Wiring } from "../kernel/wiring";
import type { InstanceLock } from "../state/instance";
import { readPrivateFile, writePrivateFile } from "../state/private-files";
import type { Role } from "../sync/sync-wire";
import type { Pinhole } from "../table/alg-state";
import type { Pinhole6 } from "../table/pinholes6";

// hosts: the per-host totals of flows that ended (the live ones travel as flows).
// pinholes: NAT-PMP, PCP and UPnP mappings, with who made them.
export interface Handover {
  policy: Policy;
  flows: FlowRecord[];
  flows6?: Flow6Record[]; // IPv6 flows (routed)
  hosts?: HostRecord[];
  hosts6?: Array<[string, HostCounters]>; // IPv6 addresses' ended flows
  hostLimit?: number;
  pinholes?: PinholeRecord[];
  pinholes6?: Pinhole6Record[]; // PCP over IPv6: pinholes, and NAT66 mappings with their public port
  upnpPort?: number;
  role?: Role;
}
// A pinhole as its record holds it, but for the slot (the new process finds its own).
export type PinholeRecord = Omit<Pinhole, "slot">;
// An IPv6 one with the seconds it has left.
export type Pinhole6Record = Omit<Pinhole6, "expires"> & { expiresIn: number };

// The process started by a graceful restart finds the instance lock on this descriptor.
export const HANDOVER_LOCK_FD = 4;

export const readHandover = (file: string): Handover => JSON.parse(readPrivateFile(file).toString()) as Handover;

// `stopAllButDevices`: stops every part of the gateway but its TUN devices and kernel wiring,
// which the new process adopts.
export async function handOver(
  g: GatewayState,
  lock: InstanceLock,
  journal: string,
  stopAllButDevices: () => Promise<void>,
  log: (msg: string) => void,
  upnpPort = 0,
): Promise<never> {
  const o = g.options;
  log("graceful restart: handing the connection table to a new process");
  g.follower.persist();
  await stopAllButDevices();
  const file = join(o.stateDir, `handover-${process.pid}.json`);
  writePrivateFile(
    file,
    JSON.stringify({
      policy: g.policy,
      flows: takeSnapshot(g.table),
      flows6: takeSnapshot6(g.table),
      hosts: g.table.hosts.records(),
      hosts6: [...g.table.v6.ended],
      hostLimit: g.table.hostLimit,
      role: g.role,
      pinholes: g.alg.pinholes().map(({ slot, ...pinhole }): PinholeRecord => pinhole),
      pinholes6: g.table.pinholes6
        .list()
        .map(({ expires, ...p }): Pinhole6Record => ({ ...p, expiresIn: expires - g.table.now }))
        .filter((p) => p.expiresIn > 0),
      upnpPort,
    } satisfies Handover),
  );
  const devices = g.follower.deviceNames;
  g.follower.close();
  const args = o.argv.filter((a, i) => a !== "--handover" && o.argv[i - 1] !== "--handover");
  // stdio position HANDOVER_LOCK_FD (4) becomes the child's fd 4
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, "--handover", file], {
    stdio: ["inherit", "inherit", "inherit", "ipc", lock.fd],
  });
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
  Wiring.deleteDevices(devices);
  Wiring.undo(journal);
  lock.release();
  process.exit(1);
}
