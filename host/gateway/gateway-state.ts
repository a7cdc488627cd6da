// The running gateway's state that outlives a single request: the live policy and the parts
// that must follow it (the workers' copy, the kernel rules, the table's timeouts), and what
// happens when the public address changes. The control commands and the graceful restart work
// on it; host/gateway/gateway.ts builds it.
import { type Policy, masqSources6 } from "../policy/rules";
import type { SharedPolicy } from "../policy/shared-policy";
import { type ConnTable, DEFAULT_TIMEOUTS, type Timeouts } from "../table/conntrack";
import type { AlgState } from "../table/alg-state";
import type { Wiring } from "../kernel/wiring";
import type { NetworkFollower, PublicChange, PrefixChange, Masq6Change } from "../kernel/follow-network";
import type { PortMappingServer } from "../portmap/port-mapping-server";
import { type MappingChange, mappingWhy } from "../portmap/mapping-change";
import { HostAccounting } from "../observe/host-accounting";
import { EventFeed } from "../observe/event-feed";
import type { PortForward } from "../policy/rules";
import { formatAddr } from "../net/addr";
import { type Prefix6, parseAddr6, parsePrefix6, inPrefix6, formatPrefix6 } from "../net/addr6";
import type { EventLog } from "../observe/event-log";
import type { RunOptions } from "./run-options";
import type { Role } from "../sync/sync-wire";
import type { TableSync } from "../sync/table-sync";

// The table's timeouts: ipchains -M -S where set, else the RFC defaults.
export function timeoutsOf(p: Policy): Timeouts {
  const m = p.masqTimeouts;
  return {
    udp: m?.udp || DEFAULT_TIMEOUTS.udp,
    tcpEstablished: m?.tcp || DEFAULT_TIMEOUTS.tcpEstablished,
    tcpTransitory: m?.tcpFin || DEFAULT_TIMEOUTS.tcpTransitory,
    icmp: DEFAULT_TIMEOUTS.icmp,
  };
}

// NPTv6 and NAT66 both translate IPv6 leaving by the WAN: one of them, or the other.
export function translations6(o: Pick<RunOptions, "npt6">, policy: Policy): string | undefined {
  const masq6 = masqSources6(policy);
  if (!o.npt6.length || !masq6.length) return undefined;
  return `--npt6 and NAT66 (a MASQ rule with an IPv6 source: ${masq6.map(formatPrefix6).join(", ")}) both translate IPv6 leaving by the WAN: keep one`;
}

export class GatewayState {
  pcp?: PortMappingServer;
  readonly hosts: HostAccounting;
  readonly events: EventFeed;
  onMappings: () => void = () => {}; // the UPnP server tells its subscribers
  // HA pair (docs/ha.md): a master forwards; a backup or a faulty one only keeps its table in sync
  role: Role;
  sync?: TableSync;
  eventLog?: EventLog; // --log-events
  readonly started = Date.now();
  private mappingsPending = false;

  // `follower` is built with the same policy; this state tells it what changes, and hears from it
  // when the public address does.
  constructor(
    readonly options: RunOptions,
    public policy: Policy,
    readonly table: ConnTable,
    readonly shared: SharedPolicy,
    readonly alg: AlgState,
    readonly wiring: Wiring,
    readonly follower: NetworkFollower,
    private readonly log: (msg: string) => void,
    afterEvents: () => void = () => {},
  ) {
    this.hosts = new HostAccounting(table);
    this.events = new EventFeed(table.events, afterEvents);
    this.role = options.sync ? "backup" : "master"; // a pair member forwards when keepalived says so
    follower.setStandby(this.role !== "master");
    follower.onPublicChange((c) => this.publicChanged(c));
    follower.onPrefixChange((c) => this.prefixChanged(c));
    follower.onMasq6Change((c) => this.masq6Changed(c));
  }

  // `ipmasq role ROLE` (keepalived's notify scripts): the workers' view says whether to forward.
  // Returns the role before.
  setRole(role: Role): Role {
    const was = this.role;
    this.role = role;
    this.follower.setStandby(role !== "master");
    return was;
  }

  // A NAT-PMP, PCP or UPnP mapping made, renewed or removed (who made it is in the pinhole's
  // record): an UPDATE event, its ip rules, the UPnP subscribers and the HA peer told.
  mappingChanged(m: MappingChange): void {
    this.events.update({
      proto: m.proto,
      lanAddr: m.lanAddr,
      lanPort: m.lanPort,
      wanAddr: m.wanAddr ?? this.follower.publicAddr,
      wanPort: m.wanPort,
      why: mappingWhy(m),
    });
    this.mappingsChanged();
    this.sync?.pinholesChanged();
  }

  // Pinholes past their lifetime are closed, each with an UPDATE event.
  expireMappings(): void {
    for (const p of this.table.pinholes6.expire()) {
      if (p.wanPort) this.table.v6.releaseMapping(p.proto, parseAddr6(p.addr), p.port); // NAT66's public port
      this.log(`PCP: ${p.proto === 6 ? "tcp" : "udp"} [${p.addr}]:${p.port} closed: its lifetime ended`);
    }
    const before = this.alg.pinholes();
    this.alg.expire();
    const left = new Set(this.alg.pinholes().map((p) => `${p.proto}:${p.port}`));
    for (const p of before)
      if (!left.has(`${p.proto}:${p.port}`)) this.mappingChanged({ ...p, wanPort: p.port, op: "expired" });
  }

  // Port forwards added or removed by a policy change: UPDATE events.
  private portForwardsChanged(before: PortForward[], after: PortForward[]): void {
    const key = (f: PortForward): string => JSON.stringify(f);
    const had = new Set(before.map(key)),
      has = new Set(after.map(key));
    const say = (f: PortForward, why: string): void =>
      this.events.update({
        proto: f.proto,
        lanAddr: f.addr,
        lanPort: f.port,
        wanAddr: f.publicAddr,
        wanPort: f.publicPort,
        why,
      });
    for (const f of after) if (!had.has(key(f))) say(f, "portfw add");
    for (const f of before) if (!has.has(key(f))) say(f, "portfw delete");
  }

  // Makes `next` the live policy: kernel rules first (they can fail), then timeouts and workers.
  // Returns what went wrong, with the old policy kept, or undefined.
  setPolicy(next: Policy): string | undefined {
    const why6 = translations6(this.options, next);
    if (why6) return why6;
    const before = this.policy;
    this.policy = next;
    try {
      this.follower.setPolicy(next); // the rules that follow the policy (port forwards, redirects)
    } catch (e) {
      this.policy = before;
      try {
        this.follower.setPolicy(before);
      } catch {
        /* tried again on the next network change */
      }
      return (e as Error).message;
    }
    this.table.setTimeouts(timeoutsOf(next));
    this.shared.publish(next);
    this.portForwardsChanged(before.portfw, next.portfw);
    this.sync?.policyChanged();
    return undefined;
  }

  // A new WAN address (the follower's event): what was bound to the old one is forgotten, port
  // forwards follow, and the log says so.
  private publicChanged({ wan, old, now }: PublicChange): void {
    if (!old || old === now) {
      this.log(`the WAN is ${wan}: masquerading as ${formatAddr(now)}`);
      return;
    }
    const forgotten = this.table.forgetAddress(old);
    // NAT-PMP, PCP and UPnP mappings were made for the old address: their owners map again
    for (const p of this.alg.pinholes()) {
      this.alg.pinhole(p.proto, p.lanAddr, p.lanPort, 0, 0);
      this.mappingChanged({
        by: p.by,
        op: "wan-change",
        wanAddr: old,
        proto: p.proto,
        lanAddr: p.lanAddr,
        lanPort: p.lanPort,
        wanPort: p.port,
      });
    }
    this.mappingsChanged();
    const moved = this.policy.portfw.filter((f) => f.publicAddr === old);
    for (const f of moved) f.publicAddr = now;
    if (moved.length) this.shared.publish(this.policy);
    this.log(
      `the WAN address of ${wan} changed from ${formatAddr(old)} to ${formatAddr(now)}: ${forgotten} mapping${forgotten === 1 ? "" : "s"} of the old address forgotten${moved.length ? `, ${moved.length} port forward${moved.length === 1 ? "" : "s"} moved to the new one` : ""}`,
    );
  }

  // The LAN's IPv6 prefixes changed (a new delegation, docs/ipv6.md): the flows of a prefix that
  // left every LAN interface end (the workers refuse its addresses as spoofed already). Rules
  // keep their addresses as written: a rule naming the old prefix is logged, not rewritten.
  // NAT66's address: the workers masquerade as the new one from now; the old one's flows end
  // (their packets would leave from an address the gateway no longer has).
  private masq6Changed({ old, now }: Masq6Change): void {
    this.table.v6.masqAddress = now ? parseAddr6(now) : undefined;
    if (now) this.log(`IPv6: masquerading (NAT66) as ${now}`);
    if (!old) return;
    const ended = this.table.v6.removeWhere((f) => f.wanPort !== 0, "wan-change");
    this.log(
      `IPv6: ${now ? `the WAN's address moved from ${old}` : `the WAN lost ${old}`}: ${ended} NAT66 flow${ended === 1 ? "" : "s"} ended`,
    );
  }

  private prefixChanged({ gone, added }: PrefixChange): void {
    for (const p of added) this.log(`IPv6: ${p.iface} has the prefix ${p.prefix}`);
    const still = this.follower.lanPrefixes6.map((p) => p.prefix);
    const left = gone.filter((p) => !still.includes(p.prefix));
    if (!left.length) return;
    const prefixes = left.map((p) => parsePrefix6(p.prefix));
    const within = (text: string): boolean => prefixes.some((p) => inPrefix6(parseAddr6(text), p));
    const ended = this.table.v6.removeWhere((f) => within(f.lanAddr), "prefix-change");
    this.log(
      `IPv6: the prefix ${left.map((p) => `${p.prefix} left ${p.iface}`).join(", ")}: ${ended} flow${ended === 1 ? "" : "s"} of it ended; its addresses are not forwarded from now on`,
    );
    const overlaps = (m?: Prefix6): boolean =>
      m !== undefined &&
      prefixes.some((p) => inPrefix6(Uint8Array.from(m.bytes), p) || inPrefix6(Uint8Array.from(p.bytes), m));
    for (const chain of Object.values(this.policy.chains))
      for (const r of chain.rules)
        if (overlaps(r.src?.prefix6) || overlaps(r.dst?.prefix6))
          this.log(
            `IPv6: the rule "${r.text}" (chain ${chain.name}) names the prefix that left: it is kept as written and matches nothing of the new prefix; write it for the new one`,
          );
  }

  // After a mapping change (it may come from inside a reconcile, when the WAN address moved):
  // mappings outside the NAT ranges get their ip rules, and the
  // UPnP subscribers hear the new state. Several changes in one turn make one check.
  mappingsChanged(): void {
    if (this.mappingsPending) return;
    this.mappingsPending = true;
    setImmediate(() => {
      this.mappingsPending = false;
      try {
        this.follower.setMappedPorts(this.mappedPorts());
      } catch {
        /* tried again on the next network change */
      }
      this.onMappings();
    });
  }

  // Public ports mapped for LAN applications outside the NAT ranges: steered in like port forwards.
  mappedPorts(): Array<{ proto: number; port: number }> {
    return this.alg
      .pinholes()
      .filter((p) => !this.table.isNatPort(p.port))
      .map((p) => ({ proto: p.proto, port: p.port }));
  }
}
