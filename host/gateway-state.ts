// The running gateway's state that outlives a single request: the live policy and the parts
// that must follow it (the workers' copy, the kernel rules, the table's timeouts), and what
// happens when the public address changes. The control commands and the graceful restart work
// on it; host/gateway.ts builds it.
import { Policy } from "./policy/rules";
import { SharedPolicy } from "./policy/shared-policy";
import { ConnTable, DEFAULT_TIMEOUTS, Timeouts } from "./table/conntrack";
import { AlgState } from "./table/alg-state";
import { Wiring } from "./kernel/wiring";
import { NetworkFollower } from "./kernel/follow-network";
import { PortMappingServer, MappingChange } from "./control/port-mapping-server";
import { HostAccounting } from "./control/host-accounting";
import { EventFeed } from "./control/event-feed";
import { PortForward } from "./policy/rules";
import { NetworkStatus } from "./control/server";
import { formatAddr } from "./net/addr";
import { RunOptions } from "./run-options";

// The table's timeouts: ipchains -M -S where set, else the RFC defaults.
export function timeoutsOf(p: Policy): Timeouts {
  const m = p.masqTimeouts;
  return {
    udp: m?.udp || DEFAULT_TIMEOUTS.udp, tcpEstablished: m?.tcp || DEFAULT_TIMEOUTS.tcpEstablished,
    tcpTransitory: m?.tcpFin || DEFAULT_TIMEOUTS.tcpTransitory, icmp: DEFAULT_TIMEOUTS.icmp,
  };
}

export class GatewayState {
  follower!: NetworkFollower; // set once built (it calls back into this state)
  pcp?: PortMappingServer;
  readonly hosts: HostAccounting;
  readonly events: EventFeed;
  readonly origins = new Map<string, { by: string; description: string }>(); // "proto:port" of a pinhole: who made it
  mappingsChanged: () => void = () => {}; // the UPnP server tells its subscribers

  constructor(readonly options: RunOptions, public policy: Policy, readonly table: ConnTable, readonly shared: SharedPolicy,
              readonly alg: AlgState, readonly wiring: Wiring, afterEvents: () => void = () => {}) {
    this.hosts = new HostAccounting(table);
    this.events = new EventFeed(table.events, afterEvents);
  }

  // A NAT-PMP, PCP or UPnP mapping made, renewed or removed: who made it (and its UPnP
  // description) noted, an UPDATE event, and the UPnP subscribers told.
  mappingChanged(m: MappingChange): void {
    const key = `${m.proto}:${m.wanPort}`;
    if (/delete|expired|wan-change/.test(m.why)) this.origins.delete(key);
    else this.origins.set(key, { by: m.why.split(" ")[0], description: m.description ?? this.origins.get(key)?.description ?? "" });
    this.events.update({ proto: m.proto, state: 0, lanAddr: m.lanAddr, lanPort: m.lanPort, remoteAddr: 0, remotePort: 0,
      wanAddr: this.follower.publicAddr, wanPort: m.wanPort, bytesOut: 0, bytesIn: 0, pktsOut: 0, pktsIn: 0, seconds: 0, why: m.why });
    this.mappingsChanged();
  }

  // Pinholes past their lifetime are closed, each with an UPDATE event.
  expireMappings(): void {
    const before = this.alg.pinholes();
    this.alg.expire();
    const left = new Set(this.alg.pinholes().map((p) => `${p.proto}:${p.port}`));
    for (const p of before) if (!left.has(`${p.proto}:${p.port}`)) this.mappingChanged({ ...p, wanPort: p.port, why: "mapping expired" });
  }

  // Port forwards added or removed by a policy change: UPDATE events.
  private portForwardsChanged(before: PortForward[], after: PortForward[]): void {
    const key = (f: PortForward): string => JSON.stringify(f);
    const had = new Set(before.map(key)), has = new Set(after.map(key));
    const say = (f: PortForward, why: string): void => this.events.update({ proto: f.proto, state: 0, lanAddr: f.addr, lanPort: f.port, remoteAddr: 0, remotePort: 0,
      wanAddr: f.publicAddr, wanPort: f.publicPort, bytesOut: 0, bytesIn: 0, pktsOut: 0, pktsIn: 0, seconds: 0, why });
    for (const f of after) if (!had.has(key(f))) say(f, "portfw add");
    for (const f of before) if (!has.has(key(f))) say(f, "portfw delete");
  }

  // Makes `next` the live policy: kernel rules first (they can fail), then timeouts and workers.
  // Returns what went wrong, with the old policy kept, or undefined.
  setPolicy(next: Policy): string | undefined {
    const before = this.policy;
    this.policy = next;
    try {
      this.follower.reconcile(); // the rules that follow the policy (port forwards, redirects)
    } catch (e) {
      this.policy = before;
      try { this.follower.reconcile(); } catch { /* tried again on the next network change */ }
      return (e as Error).message;
    }
    this.table.setTimeouts(timeoutsOf(next));
    this.shared.publish(next);
    this.portForwardsChanged(before.portfw, next.portfw);
    return undefined;
  }

  // A new WAN address: what was bound to the old one is forgotten, port forwards follow.
  // Returns what the log line should add.
  publicChanged(old: number, now: number): string {
    if (!old || old === now) return "";
    const forgotten = this.table.forgetAddress(old);
    // NAT-PMP, PCP and UPnP mappings were made for the old address: their owners map again
    for (const p of this.alg.pinholes()) {
      this.alg.pinhole(p.proto, p.lanAddr, p.lanPort, 0, 0);
      this.mappingChanged({ proto: p.proto, lanAddr: p.lanAddr, lanPort: p.lanPort, wanPort: p.port, why: "wan-change" });
    }
    this.mappingsChanged();
    const moved = this.policy.portfw.filter((f) => f.publicAddr === old);
    for (const f of moved) f.publicAddr = now;
    if (moved.length) this.shared.publish(this.policy);
    return `: ${forgotten} mapping${forgotten === 1 ? "" : "s"} of the old address forgotten${moved.length ? `, ${moved.length} port forward${moved.length === 1 ? "" : "s"} moved to the new one` : ""}`;
  }

  network(): NetworkStatus {
    const f = this.follower;
    return {
      tun: this.options.tun, offloads: f.offloads,
      devices: this.wiring.devices.map((d) => ({ iface: d.iface, device: d.name })),
      wan: f.wan ?? "", publicAddress: f.publicAddr ? formatAddr(f.publicAddr) : "",
      ...(f.waiting ? { waiting: f.waiting } : {}),
      portMappingRefused: this.pcp?.refused ?? 0,
    };
  }
}
