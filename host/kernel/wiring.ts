// The kernel wiring (the rules table in docs/architecture.md), with the ingress kept visible: every interface
// the gateway serves has a TUN device of its own (host/kernel/follow-network.ts makes them), and
// an `ip rule iif IF lookup TABLE` whose table routes everything into that device; the gateway's
// own packets (a redirect target's replies) go to the base device. What ipmasq writes back goes
// into the base device and is routed as usual.
//
//   pref 5, 6    iif <base> lookup local, main      what ipmasq writes back, routed first
//   pref 10-14   iif <wan> tcp/udp dport <NAT ports>, icmp, udp to <public>  -> the WAN's device
//                iif <other> to <public> tcp/udp dport <NAT ports>  -> its device (hairpin)
//   pref 15      iif <each> <proto> dport <port forward>  -> its device
//   pref 16      iif lo <proto> sport <redirect port>  -> the base device
//   pref 100     lookup local (moved from pref 0)
//   pref 200     iif <each> lookup <its table>
//   pref 201     not iif lo: blackhole  — an interface with no device yet forwards nothing
//
// IPv6 takes the same way into the same devices (ip -6 rule, the same tables' IPv6 side):
//   pref 5, 6    iif <base> lookup local, main
//   pref 9       iif <wan> from fe80::/10 lookup local    (neighbour discovery stays the kernel's)
//   pref 10-14   iif <wan> to <NAT66 address> tcp/udp dport <NAT ports>, ipv6-icmp  -> the WAN's device
//   pref 100     lookup local (moved from pref 0)
//   pref 200     iif <each> lookup <its table>
//   pref 201     not iif lo: blackhole
// and IPv6 forwarding is turned on last, once every packet it would forward meets the filter.
// A rule of the journal that starts with "-6" is an IPv6 rule.
//
// Each change is journaled to a state file before it is made, so that exit, a signal, or the
// next start after a crash undoes exactly what was done. The journal says whose it is (boot id,
// network namespace cookie); one of another boot or namespace is set aside, never applied.
import { existsSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { ip, ipBatch, ipJson, readSysctl, writeSysctl, sysctlPath } from "./ip";
import { readSettings, writeSetting, type ReceiveSetting } from "./receive-offload";
import { netnsId, bootId } from "../state/instance";
import { readPrivateFile, writePrivateFile } from "../state/private-files";

export const TUN_TXQUEUELEN = 1000;
const BLACKHOLE_METRIC = 4294967295; // behind the device's own default route (metric 0)

export const PREF_FROM_TUN = 5;
export const PREF_WAN_FIRST = 10;
export const PREF_PORTFW = 15;
export const PREF_REDIRECT = 16;
export const PREF_LOCAL = 100;
export const PREF_ALL = 200;
export const PREF_UNKNOWN = 201;

export interface BasePlan {
  tun: string; // the base TUN device: written to by every worker, read for the gateway's own packets
  table: number; // its table; ingress devices use the following ones
  mtu: number;
  portMin: number;
  portMax: number; // the NAT port range; the gateway's own ports stay outside it
}

export interface IngressDevice {
  iface: string;
  name: string;
  table: number;
}

export interface Journal {
  boot: string;
  netns: string;
  tun: string;
  table: number;
  sysctls: Array<[string, string]>; // key, value before
  rules: string[][]; // `ip rule add` arguments, deleted with the same arguments
  dynamic: string[][]; // rules that follow the interfaces, the WAN and the policy
  localMoved: boolean;
  localMoved6?: boolean;
  receive: Array<[string, ReceiveSetting, string]>; // interface, setting, value before
  devices: IngressDevice[];
}

// Has this namespace IPv6 at all (a kernel booted with ipv6.disable=1 has no such keys)?
export const ipv6Enabled = (): boolean =>
  existsSync(sysctlPath("net.ipv6.conf.all.forwarding")) && readSysctl("net.ipv6.conf.all.disable_ipv6") !== "1";

export function stateFile(dir: string, tun: string): string {
  return join(dir, `wiring-net${netnsId()}-${tun}.json`);
}

const readJournal = (file: string): Journal => JSON.parse(readPrivateFile(file).toString()) as Journal;

// `ip rule add|del ARGS`, or `ip -6 rule ...` for a rule whose arguments start with "-6".
function ipRule(op: "add" | "del", args: string[]): void {
  if (args[0] === "-6") ip("-6", "rule", op, ...args.slice(1));
  else ip("rule", op, ...args);
}

// Several rules ("-6" first: an IPv6 one) in one `ip -batch` per family.
function applyRules(op: "add" | "del", rules: string[][], force: boolean): void {
  const v4 = rules.filter((r) => r[0] !== "-6").map((r) => ["rule", op, ...r]);
  const v6 = rules.filter((r) => r[0] === "-6").map((r) => ["rule", op, ...r.slice(1)]);
  ipBatch(v4, { force });
  ipBatch(v6, { ipv6: true, force });
}

export class Wiring {
  private journal: Journal;

  constructor(
    private readonly file: string,
    base: Pick<BasePlan, "tun" | "table">,
  ) {
    this.journal = {
      boot: bootId(),
      netns: netnsId(),
      tun: base.tun,
      table: base.table,
      sysctls: [],
      rules: [],
      dynamic: [],
      localMoved: false,
      receive: [],
      devices: [],
    };
  }

  // Continues the journal of the gateway that handed over to this process (graceful restart).
  static adopt(file: string): Wiring {
    const j = readJournal(file);
    const w = new Wiring(file, j);
    w.journal = j;
    return w;
  }

  get devices(): IngressDevice[] {
    return this.journal.devices;
  }

  private save(): void {
    writePrivateFile(this.file, `${JSON.stringify(this.journal, null, 1)}\n`);
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
    ipRule("add", args);
  }

  // A TUN device's own settings: no reverse-path filter (ipmasq checks the real ingress), IPv6
  // without addresses of its own (no link-local address, so the kernel sends nothing into it:
  // no neighbour discovery, no MLD), a queue that holds a burst, and a default route in its
  // table for both families — with a blackhole behind it: if the process dies and its device
  // with it, what the rules steer here is dropped, never handed on to the next rule (the local
  // table would answer a flow's segment with a reset).
  private device(name: string, table: number, mtu: number): void {
    const key = `net.ipv4.conf.${name}`;
    this.sysctl(`${key}.rp_filter`, "0");
    const key6 = `net.ipv6.conf.${name}`;
    if (existsSync(sysctlPath(`${key6}.addr_gen_mode`))) {
      writeSysctl(`${key6}.addr_gen_mode`, "1"); // the device's own key: it goes with the device
      writeSysctl(`${key6}.accept_ra`, "0");
      writeSysctl(`${key6}.disable_ipv6`, "0");
    }
    // TUN's default queue of 500 packets overflows at about 100 000 small packets/s while the
    // worker thread is scheduled out; 1000 is what a NIC and the kernel's own backlog hold.
    // No multicast: with IPv6 forwarding on, the kernel would send MLD reports (joining the
    // all-routers groups) out of every device, into ipmasq (an HA backup counted them as traffic).
    ip("link", "set", name, "mtu", String(mtu), "txqueuelen", String(TUN_TXQUEUELEN), "multicast", "off", "up");
    ip("route", "replace", "default", "dev", name, "table", String(table));
    ip("route", "replace", "blackhole", "default", "metric", String(BLACKHOLE_METRIC), "table", String(table));
    if (ipv6Enabled()) {
      ip("-6", "route", "replace", "default", "dev", name, "table", String(table));
      ip("-6", "route", "replace", "blackhole", "default", "metric", String(BLACKHOLE_METRIC), "table", String(table));
    }
  }

  applyBase(p: BasePlan): void {
    this.save();
    this.sysctl("net.ipv4.ip_forward", "1");
    this.sysctl("net.ipv4.conf.all.rp_filter", "0");
    // translated packets come back from the TUN with the gateway's own address as source
    this.sysctl(`net.ipv4.conf.${p.tun}.accept_local`, "1");
    const [lo, hi] = readSysctl("net.ipv4.ip_local_port_range").split(" ").map(Number);
    if (lo <= p.portMax && hi >= p.portMin) {
      // keep the gateway's own sockets out of the NAT range: above it if there are 1000 ports
      // there, else below if there are, else wherever there are more (--ports ends at 65000 at
      // most, so at least 535 remain above)
      const above = 65535 - p.portMax,
        below = p.portMin - 1024;
      const range =
        above >= 1000 || above >= below
          ? `${p.portMax + 1} 65535`
          : `${Math.max(1024, p.portMin - 4000)} ${p.portMin - 1}`;
      this.sysctl("net.ipv4.ip_local_port_range", range);
    }
    this.device(p.tun, p.table, p.mtu);
    // What ipmasq writes back is routed as usual, and first: it skips the port rules below
    // (the forwarding path walks every rule before the one that matches, twice per packet).
    this.rule(["pref", String(PREF_FROM_TUN), "iif", p.tun, "lookup", "local"]);
    this.rule(["pref", String(PREF_FROM_TUN + 1), "iif", p.tun, "lookup", "main"]);
    // The local table moves behind the port rules; the new place is added before the old is removed.
    this.rule(["pref", String(PREF_LOCAL), "lookup", "local"]);
    this.journal.localMoved = true;
    this.save();
    ip("rule", "del", "pref", "0", "lookup", "local");
    this.rule(["pref", String(PREF_UNKNOWN), "not", "iif", "lo", "blackhole"]);
    if (!ipv6Enabled()) return;
    this.rule(["-6", "pref", String(PREF_FROM_TUN), "iif", p.tun, "lookup", "local"]);
    this.rule(["-6", "pref", String(PREF_FROM_TUN + 1), "iif", p.tun, "lookup", "main"]);
    // behind NAT66's rules, as IPv4's behind its port rules
    this.rule(["-6", "pref", String(PREF_LOCAL), "lookup", "local"]);
    this.journal.localMoved6 = true;
    this.save();
    ip("-6", "rule", "del", "pref", "0", "lookup", "local");
    this.rule(["-6", "pref", String(PREF_UNKNOWN), "not", "iif", "lo", "blackhole"]);
  }

  // IPv6 forwarding, once the filter is in place (the rules above and each device's). Returns
  // whether it was already on: then the kernel forwarded IPv6 unfiltered until now.
  enableForwarding6(): boolean {
    if (!ipv6Enabled()) return false;
    const was = readSysctl("net.ipv6.conf.all.forwarding") === "1";
    this.sysctl("net.ipv6.conf.all.forwarding", "1");
    return was;
  }

  // A new ingress device (already created as a TUN) for interface `iface`.
  addDevice(d: IngressDevice, mtu: number): void {
    this.journal.devices.push(d);
    this.save();
    this.device(d.name, d.table, mtu);
  }

  setMtu(names: string[], mtu: number): void {
    for (const n of names) ip("link", "set", n, "mtu", String(mtu));
  }

  // Receive offload on the LAN and WAN interfaces (receive-offload.ts). A performance setting:
  // what cannot be set is reported, not fatal. The value before is kept per interface and
  // setting: a device made again under the same name (a PPP redial) records its own.
  // Returns the interfaces changed, and why not all.
  tuneReceive(devs: string[], settings: ReceiveSetting[]): { changed: string[]; problem?: string } {
    const changed = new Set<string>();
    try {
      for (const dev of devs) {
        const values = readSettings(dev, settings);
        for (const [i, s] of settings.entries()) {
          const before = values[i];
          if (before === undefined || before === s.value) continue;
          this.journal.receive = this.journal.receive.filter(([d, x]) => !(d === dev && x.name === s.name));
          this.journal.receive.push([dev, s, before]);
          this.save();
          writeSetting(dev, s, s.value);
          changed.add(dev);
        }
      }
    } catch (e) {
      return {
        changed: [...changed],
        problem: `receive offload (GRO) left as it was on ${devs.join(", ")}: ${(e as Error).message}`,
      };
    }
    return { changed: [...changed] };
  }

  // Puts the settings named back as they were before tuneReceive on `dev` (a hold ends).
  releaseReceive(dev: string, names: string[]): void {
    const mine = this.journal.receive.filter(([d, x]) => d === dev && names.includes(x.name));
    for (const [, s, before] of mine) writeSetting(dev, s, before);
    this.journal.receive = this.journal.receive.filter((e) => !mine.includes(e));
    this.save();
  }

  // Makes the dynamic rules exactly `desired`: removes the others, adds the missing, each step one
  // `ip -batch` per family (when the WAN moves, its rules are away for a moment, not for the
  // dozens of process starts that were a window for a reply to reach the gateway's own stack and
  // be reset). The old go before the new: the kernel finds an existing rule by the fields a new
  // one names, so a WAN's rule would collide with the same interface's hairpin rule.
  syncRules(desired: string[][]): void {
    const key = (r: string[]): string => r.join(" ");
    const want = new Set(desired.map(key));
    const have = new Set(this.journal.dynamic.map(key));
    const stale = this.journal.dynamic.filter((x) => !want.has(key(x)));
    const missing = [...new Map(desired.filter((r) => !have.has(key(r))).map((r) => [key(r), r])).values()];
    if (!stale.length && !missing.length) return;
    applyRules("del", stale, true); // one already gone is no failure
    this.journal.dynamic = [...this.journal.dynamic.filter((x) => want.has(key(x))), ...missing];
    this.save();
    try {
      applyRules("add", missing, false);
    } catch (e) {
      // the batch stopped part way: take back what went in, so that the next try adds them all
      applyRules("del", missing, true);
      this.journal.dynamic = this.journal.dynamic.filter((x) => !missing.includes(x));
      this.save();
      throw e;
    }
  }

  // Persistent TUN devices left without an owner (a graceful restart whose new process failed).
  static deleteDevices(names: string[]): void {
    for (const n of names) {
      try {
        ip("link", "del", n);
      } catch {
        /* already gone */
      }
    }
  }

  // At start: a journal left by a run that did not stop cleanly is undone, if it is this boot's
  // and this namespace's; any other is set aside. Returns what happened, for the log.
  static recover(file: string): string | undefined {
    if (!existsSync(file)) return undefined;
    let j: Journal;
    try {
      j = readJournal(file);
    } catch (e) {
      const aside = `${file}.unreadable-${Date.now()}`;
      renameSync(file, aside);
      return `set aside a journal that cannot be read (${(e as Error).message}): ${aside}`;
    }
    if (j.boot !== bootId() || j.netns !== netnsId()) {
      const aside = `${file}.stale-${Date.now()}`;
      renameSync(file, aside);
      return `set aside a journal of ${j.boot !== bootId() ? "another boot" : "another network namespace"}, not applied: ${aside}`;
    }
    Wiring.undo(file);
    return `restored the kernel settings an earlier run left behind (${file})`;
  }

  // Undoes what the journal says, in reverse, tolerating what is already gone: re-adds only
  // what is missing (never a second local rule) and removes only the rules it added.
  static undo(file: string): boolean {
    if (!existsSync(file)) return false;
    const j = readJournal(file);
    const rules = ipJson<Array<{ priority: number; table?: string; src?: string; iif?: string }>>("rule", "show");
    if (j.localMoved && !rules.some((r) => r.priority === 0 && r.table === "local")) {
      try {
        ip("rule", "add", "pref", "0", "lookup", "local");
      } catch {
        /* raced */
      }
    }
    if (j.localMoved6) {
      try {
        const rules6 = ipJson<Array<{ priority: number; table?: string }>>("-6", "rule", "show");
        if (!rules6.some((r) => r.priority === 0 && r.table === "local"))
          ip("-6", "rule", "add", "pref", "0", "lookup", "local");
      } catch {
        /* raced, or no IPv6 any more */
      }
    }
    for (const args of [...j.dynamic, ...[...j.rules].reverse()]) {
      try {
        ipRule("del", args);
      } catch {
        /* already gone */
      }
    }
    for (const table of [j.table, ...j.devices.map((d) => d.table)]) {
      for (const family of ["-4", "-6"]) {
        try {
          ip(family, "route", "flush", "table", String(table));
        } catch {
          /* table already empty, or no IPv6 */
        }
      }
    }
    for (const [dev, s, before] of [...j.receive].reverse()) {
      try {
        writeSetting(dev, s, before);
      } catch {
        /* the interface is gone */
      }
    }
    for (const [key, before] of [...j.sysctls].reverse()) {
      try {
        writeSysctl(key, before);
      } catch {
        /* the TUN's own keys vanish with it */
      }
    }
    unlinkSync(file);
    return true;
  }
}
