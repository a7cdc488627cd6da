// The kernel wiring of DESIGN.md ("tun-route"): everything the kernel would forward is policy-
// routed into the TUN device, and replies to the public address in the NAT port ranges too.
// Each change is journaled to a state file before it is made, so that exit, a signal, or the
// next start after a crash undoes exactly what was done.
import { mkdirSync, readFileSync, writeFileSync, existsSync, unlinkSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { ip, readSysctl, writeSysctl, sysctlPath } from "./ip";
import { listInterfaces } from "./interfaces";
import { receiveSettings, readSettings, writeSetting, ReceiveSetting } from "./receive-offload";

export const TUN_TXQUEUELEN = 1000;

export interface WiringPlan {
  tun: string;
  table: number;
  wan: string;
  publicAddr: string;
  mtu: number;
  portMin: number; portMax: number; // NAT range for ports >= 1024
  lowMin: number; lowMax: number; // NAT range for ports < 1024
}

interface Journal {
  netns: string;
  tun: string;
  table: number;
  sysctls: Array<[string, string]>; // key, value before
  rules: string[][]; // `ip rule add` arguments, deleted with the same arguments
  extra: string[][]; // rules that follow the policy (port forwards, redirects), changed live
  localMoved: boolean;
  receive: Array<[string, ReceiveSetting, string]>; // interface, setting, value before
}

export const PREF_FROM_TUN = 5;
export const PREF_WAN_FIRST = 10;
export const PREF_PORTFW = 15;
export const PREF_REDIRECT = 16;
export const PREF_LOCAL = 100;
export const PREF_ALL = 200;

// The state file is per network namespace and TUN name: a gateway in one namespace never undoes
// another's wiring.
export function netnsId(): string {
  try { return readlinkSync("/proc/self/ns/net").replace(/\D/g, ""); } catch { return "unknown"; }
}

export function stateFile(dir: string, tun: string): string {
  return join(dir, `wiring-net${netnsId()}-${tun}.json`);
}

export class Wiring {
  private journal: Journal;

  constructor(private readonly file: string, plan: Pick<WiringPlan, "tun" | "table">) {
    this.journal = { netns: netnsId(), tun: plan.tun, table: plan.table, sysctls: [], rules: [], extra: [], localMoved: false, receive: [] };
  }

  // Continues the journal of the gateway that handed over to this process (graceful restart).
  static adopt(file: string): Wiring {
    const j = JSON.parse(readFileSync(file, "utf8")) as Journal;
    const w = new Wiring(file, { tun: j.tun, table: j.table });
    w.journal = { ...j, extra: j.extra ?? [], receive: j.receive ?? [] };
    return w;
  }

  private save(): void {
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    writeFileSync(this.file, JSON.stringify(this.journal, null, 1) + "\n", { mode: 0o600 });
  }

  private sysctl(key: string, value: string, optional = false): void {
    if (optional && !existsSync(sysctlPath(key))) return;
    const before = readSysctl(key);
    if (before === value) return;
    this.journal.sysctls.push([key, before]);
    this.save();
    writeSysctl(key, value);
  }

  private rule(args: string[]): void {
    this.journal.rules.push(args);
    this.save();
    ip("rule", "add", ...args);
  }

  apply(p: WiringPlan): void {
    this.save();
    const tunKey = `net.ipv4.conf.${p.tun}`;
    this.sysctl("net.ipv4.ip_forward", "1");
    this.sysctl("net.ipv4.conf.all.rp_filter", "0");
    this.sysctl(`${tunKey}.rp_filter`, "0");
    // translated packets come back from the TUN with the gateway's own address as source
    this.sysctl(`${tunKey}.accept_local`, "1");
    // the TUN carries IPv4 only: no IPv6 router solicitations or MLD into the data path
    this.sysctl(`net.ipv6.conf.${p.tun}.disable_ipv6`, "1", true);
    const [lo, hi] = readSysctl("net.ipv4.ip_local_port_range").split(" ").map(Number);
    if (lo <= p.portMax && hi >= p.portMin) {
      // keep the gateway's own sockets out of the NAT range: above it if there is room, else below
      const range = 65535 - p.portMax >= 1000 ? `${p.portMax + 1} 65535` : `${Math.max(1024, p.portMin - 4000)} ${p.portMin - 1}`;
      this.sysctl("net.ipv4.ip_local_port_range", range);
    }
    // TUN's default queue of 500 packets overflows at about 100 000 small packets/s while the
    // worker thread is scheduled out; 1000 is what a NIC and the kernel's own backlog hold.
    ip("link", "set", p.tun, "mtu", String(p.mtu), "txqueuelen", String(TUN_TXQUEUELEN), "up");
    ip("route", "replace", "default", "dev", p.tun, "table", String(p.table));
    const T = String(p.table);
    // What ipmasq writes back is routed as usual, and first: it skips the ten port rules below
    // (the forwarding path walks every rule before the one that matches, twice per packet).
    this.rule(["pref", String(PREF_FROM_TUN), "iif", p.tun, "lookup", "local"]);
    this.rule(["pref", String(PREF_FROM_TUN + 1), "iif", p.tun, "lookup", "main"]);
    const ranges = [`${p.portMin}-${p.portMax}`, `${p.lowMin}-${p.lowMax}`];
    const others = listInterfaces().map((i) => i.name).filter((n) => n !== "lo" && n !== p.tun && n !== p.wan);
    let pref = PREF_WAN_FIRST;
    for (const range of ranges) {
      for (const proto of ["tcp", "udp"]) {
        this.rule(["pref", String(pref), "iif", p.wan, "ipproto", proto, "dport", range, "lookup", T]);
        // from the LAN side only hairpinned flows' replies use the public address and NAT ports
        for (const i of others) this.rule(["pref", String(pref), "iif", i, "to", p.publicAddr, "ipproto", proto, "dport", range, "lookup", T]);
        pref++;
      }
    }
    this.rule(["pref", String(pref), "iif", p.wan, "ipproto", "icmp", "lookup", T]);
    // UDP fragments carry no ports, so no dport rule matches them: all UDP to the public
    // address comes through ipmasq, which reassembles, and hands the gateway's own back
    this.rule(["pref", String(pref++), "iif", p.wan, "to", p.publicAddr, "ipproto", "udp", "lookup", T]);
    // The local table moves behind those rules; the new place is added before the old is removed.
    this.rule(["pref", String(PREF_LOCAL), "lookup", "local"]);
    this.journal.localMoved = true;
    this.save();
    ip("rule", "del", "pref", "0", "lookup", "local");
    for (const i of listInterfaces()) {
      if (i.name === "lo" || i.name === p.tun) continue;
      this.rule(["pref", String(PREF_ALL), "iif", i.name, "lookup", T]);
    }
  }

  // Receive offload on the LAN and WAN interfaces (receive-offload.ts). A performance setting:
  // what cannot be set is reported, not fatal. Returns the interfaces changed, and why not all.
  tuneReceive(devs: string[], holdUs: number): { changed: string[]; problem?: string } {
    const changed = new Set<string>();
    try {
      const settings = receiveSettings(holdUs);
      for (const dev of devs) {
        const values = readSettings(dev, settings);
        for (const [i, s] of settings.entries()) {
          const before = values[i];
          if (before === undefined || before === s.value) continue;
          this.journal.receive.push([dev, s, before]);
          this.save();
          writeSetting(dev, s, s.value);
          changed.add(dev);
        }
      }
    } catch (e) {
      return { changed: [...changed], problem: `receive offload (GRO) left as it was on ${devs.join(", ")}: ${(e as Error).message}` };
    }
    return { changed: [...changed] };
  }

  // Makes the policy-dependent rules exactly `desired`: removes the others, adds the missing.
  syncExtraRules(desired: string[][]): void {
    const key = (r: string[]): string => r.join(" ");
    const want = new Set(desired.map(key));
    for (const r of this.journal.extra.filter((x) => !want.has(key(x)))) {
      try { ip("rule", "del", ...r); } catch { /* already gone */ }
    }
    const have = new Set(this.journal.extra.filter((x) => want.has(key(x))).map(key));
    this.journal.extra = this.journal.extra.filter((x) => want.has(key(x)));
    for (const r of desired) {
      if (have.has(key(r))) continue;
      this.journal.extra.push(r);
      this.save();
      ip("rule", "add", ...r);
    }
    this.save();
  }

  // Undoes what the journal says, in reverse, tolerating what is already gone.
  static undo(file: string): boolean {
    if (!existsSync(file)) return false;
    const j = JSON.parse(readFileSync(file, "utf8")) as Journal;
    if (j.localMoved) {
      try { ip("rule", "add", "pref", "0", "lookup", "local"); } catch { /* already there */ }
    }
    for (const args of [...(j.extra ?? []), ...[...j.rules].reverse()]) {
      try { ip("rule", "del", ...args); } catch { /* already gone */ }
    }
    try { ip("route", "flush", "table", String(j.table)); } catch { /* table already empty */ }
    for (const [dev, s, before] of [...(j.receive ?? [])].reverse()) {
      try { writeSetting(dev, s, before); } catch { /* the interface is gone */ }
    }
    for (const [key, before] of [...j.sysctls].reverse()) {
      try { writeSysctl(key, before); } catch { /* the TUN's own keys vanish with it */ }
    }
    unlinkSync(file);
    return true;
  }
}
