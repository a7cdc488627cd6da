// Follows the network the gateway sits in, as Linux's MASQ followed a dial-up address: every
// interface gets its own ingress TUN device (so the workers know where each packet came in), the
// WAN is the default route's interface (or --wan) and the public address its first IPv4 address
// (or --public ADDR while the interface has it: the virtual address of an HA pair's master).
// `reconcile()` reads the kernel's state and makes the wiring and the workers' view match it; it
// runs at start, on every rtnetlink event (host/kernel/monitor.ts) and now and then.
//
// Theory of the WAN's life:
//   no WAN yet            -> new outbound flows are refused (no_wan); the log says why it waits
//   address appears       -> masquerade as it; the WAN rules (prefs 10-14) name it
//   address goes away     -> waiting again; flows keep their entries (a short flap or a redial
//                            with the same address keeps every connection); the WAN rules stay
//                            (an HA backup's --public address is away for as long as it is backup)
//   a different address   -> flows of the old address are forgotten (their packets are refused,
//                            never sent from an address we no longer own); port forwards follow
//   device made again     -> its rules reattach by name; receive offload is set again
//   default route moves   -> the new interface is the WAN (unless --wan pins it)
//
// IPv6 is routed: the LAN interfaces' prefixes (delegated by the ISP, docs/ipv6.md) are followed
// the same way. A prefix that leaves every LAN interface is reported (onPrefixChange) once the
// workers' view no longer has it: its flows end, and its addresses are spoofed from then on.
// With NAT66 (a MASQ rule with an IPv6 source) the WAN's IPv6 address is followed as the IPv4
// one (onMasq6Change): what comes back to it is steered into the WAN's device.
//
// The follower computes its rules from what it is given (the policy, the ports mapped for LAN
// applications, whether an HA backup stands by), set by its owner; it reports a new public
// address as an event (onPublicChange) and calls nothing back.
import { type Wiring, type IngressDevice, ipv6Enabled } from "./wiring";
import { dynamicRules } from "./dynamic-rules";
import { readNetwork, lanInterfaces, type Iface, type NetState } from "./interfaces";
import { openTun, closeTun, setPersist, type Tun } from "../tun/tun";
import type { SharedBlob } from "../shm/shared-blob";
import type { NetworkView } from "../net/network-view";
import { type Policy, masqSources, masqSources6 } from "../policy/rules";
import { formatAddr } from "../net/addr";
import { parsePrefix6, formatPrefix6 } from "../net/addr6";
import { offloadSettings } from "./receive-offload";
import { ReceiveHold, type HoldStatus } from "./receive-hold";
import { steerQueues, type RemoteEnd } from "../tun/steering";

export interface FollowOptions {
  tun: string; // the base device; ingress devices are named <tun>-<slot>
  table: number; // the base device's table; an ingress device's is table + slot
  queues: number; // one per worker
  wan?: string; // --wan: pinned
  lan?: string; // --lan: pinned
  groHoldUs?: number; // receive offload on the LAN and WAN interfaces (off when absent), bursts held up to this
  groBusyPps: number; // while an interface receives this many packets a second (0: always)
  natRanges: string[];
  publicAddr?: number; // --public: masquerade as this address, while it is on the WAN interface
  publicAddr6?: string; // --public6: NAT66's, while it is on the WAN interface (RFC 5952 text)
}

// The LAN interfaces' global IPv6 prefixes changed: those that left and those that came.
export interface PrefixChange {
  gone: LanPrefix6[];
  added: LanPrefix6[];
}
// NAT66's address (the WAN's global IPv6 address) changed: "" is none.
export interface Masq6Change {
  old: string;
  now: string;
}

export interface LanPrefix6 {
  iface: string;
  prefix: string; // RFC 5952 text with its length, e.g. 2001:db8:1::/64
}

// The public address changed on `wan`: from `old` (0: none before) to `now`.
export interface PublicChange {
  wan: string;
  old: number;
  now: number;
}

export type MappedPort = { proto: number; port: number };

export class NetworkFollower {
  private readonly tuns = new Map<string, Tun>(); // by device name
  private base?: Tun;
  wan?: string; // the WAN interface, kept while it has no address
  publicAddr = 0; // 0 while waiting
  private lastPublic = 0; // the last address masqueraded as
  private forwarding6 = false; // IPv6 forwarding turned on (after the filter was in place)
  waiting?: string; // why new flows are refused, while they are
  private tunedIndex = new Map<string, number>(); // interface -> ifindex whose offload we set
  private mtu = 0;
  private published = "";
  private readonly hold?: ReceiveHold;
  private readonly steered = new Map<string, RemoteEnd>(); // TUN device -> how its queue is picked
  private steeringRefused = false; // said once
  private mappedPorts: MappedPort[] = []; // public ports mapped outside the NAT ranges: steered in like port forwards
  private standby = false; // an HA backup: the workers read and drop everything (docs/ha.md)
  private readonly publicListeners: Array<(c: PublicChange) => void> = [];
  lanPrefixes6: LanPrefix6[] = []; // as of the last reconcile
  private readonly prefixListeners: Array<(c: PrefixChange) => void> = [];
  masqAddr6 = ""; // NAT66's address: the WAN's first global IPv6 address, while a MASQ rule has an IPv6 source
  private lastMasq6 = ""; // kept while the WAN has none, for the rules (as lastPublic)
  private wanOnLink6: string[] = []; // the WAN's on-link IPv6 prefixes
  private readonly masq6Listeners: Array<(c: Masq6Change) => void> = [];

  constructor(
    private readonly o: FollowOptions,
    private readonly wiring: Wiring,
    private readonly view: SharedBlob<NetworkView>,
    private policy: Policy,
    private readonly log: (msg: string) => void,
  ) {
    if (o.groHoldUs) this.hold = new ReceiveHold(o.groHoldUs, o.groBusyPps, wiring, log);
  }

  // Called with every new public address, once the rules for it are made and the workers use it
  // (publicAddr is the new one).
  onPublicChange(listener: (c: PublicChange) => void): void {
    this.publicListeners.push(listener);
  }

  // Called when the LAN's IPv6 prefixes change, once the workers use the new ones.
  onPrefixChange(listener: (c: PrefixChange) => void): void {
    this.prefixListeners.push(listener);
  }

  // Called when NAT66's address changes, once the rules for it are made.
  onMasq6Change(listener: (c: Masq6Change) => void): void {
    this.masq6Listeners.push(listener);
  }

  private get started(): boolean {
    return this.base !== undefined;
  }

  // A new policy's rules (port forwards, redirects); throws, with the kernel's reason, when they
  // cannot be made.
  setPolicy(p: Policy): void {
    this.policy = p;
    if (this.started) this.reconcile();
  }

  // The ports mapped outside the NAT ranges; the rules are made again only when they changed (a
  // renewal runs no `ip`: a LAN host asking again and again costs no process starts).
  setMappedPorts(ports: MappedPort[]): void {
    if (JSON.stringify(ports) === JSON.stringify(this.mappedPorts)) return;
    this.mappedPorts = ports;
    if (this.started) this.reconcile();
  }

  setStandby(on: boolean): void {
    if (on === this.standby) return;
    this.standby = on;
    if (this.started) this.reconcile();
  }

  // Creates (or, after a graceful restart, adopts) the devices, then the first reconcile.
  start(adopt: boolean): void {
    const net = readNetwork();
    this.mtu = this.wantedMtu(net);
    this.base = openTun(this.o.tun, this.o.queues, adopt);
    this.tuns.set(this.o.tun, this.base);
    if (adopt) {
      for (const d of this.wiring.devices) this.tuns.set(d.name, openTun(d.name, this.o.queues, true));
    } else {
      this.wiring.applyBase({ tun: this.o.tun, table: this.o.table, mtu: this.mtu, ...this.portRange() });
    }
    this.reconcile(net, adopt);
  }

  private portRange(): { portMin: number; portMax: number } {
    const [min, max] = this.o.natRanges[0].split("-").map(Number);
    return { portMin: min, portMax: max };
  }

  // The TUN devices' MTU is the smallest of the interfaces they serve, so that an oversized DF
  // packet is refused on the first forward and the sender hears of it (docs/architecture.md).
  private wantedMtu(net: NetState): number {
    const mtus = this.served(net)
      .map((i) => i.mtu)
      .filter((m) => m >= 576);
    return mtus.length ? Math.min(...mtus) : 1500;
  }

  private isOurs(name: string): boolean {
    return name === this.o.tun || this.tuns.has(name) || this.wiring.devices.some((d) => d.name === name);
  }

  // The interfaces the gateway forwards for: all but loopback and its own TUN devices.
  private served(net: NetState): Iface[] {
    return net.interfaces.filter((i) => i.name !== "lo" && !this.isOurs(i.name));
  }

  lanInterfaces(net = readNetwork()): Iface[] {
    return lanInterfaces(this.served(net), masqSources(this.policy), this.wan, this.o.lan);
  }

  reconcile(net = readNetwork(), adopted = false): void {
    const served = this.served(net);
    for (const i of served) {
      if (!this.wiring.devices.some((d) => d.iface === i.name)) this.addDevice(i.name);
    }

    // the WAN and its address
    const wanName = this.o.wan ?? (net.defaultDev && !this.isOurs(net.defaultDev) ? net.defaultDev : undefined);
    if (wanName && wanName !== this.wan) {
      if (this.wan) this.log(`the default route moved from ${this.wan} to ${wanName}: ${wanName} is the WAN now`);
      this.wan = wanName;
    }
    const wanIf = served.find((i) => i.name === this.wan);
    const want = this.o.publicAddr;
    // with --public, that address while the interface has it (a VRRP address comes and goes)
    const addr =
      want !== undefined ? (wanIf?.addrs.some((a) => a.addr === want) ? want : 0) : (wanIf?.addrs[0]?.addr ?? 0);
    const why = !this.wan
      ? "no default route (add one, or pass --wan IF)"
      : !wanIf
        ? `the WAN interface ${this.wan} does not exist`
        : !addr && want !== undefined
          ? `${formatAddr(want)} (--public) is not on ${this.wan}`
          : !addr
            ? `the WAN interface ${this.wan} has no IPv4 address`
            : !net.defaultDev && !this.o.wan
              ? "no default route"
              : undefined;
    if (why !== this.waiting && why)
      this.log(`waiting for the WAN: ${why}; new connections are refused until it is back`);
    this.waiting = why;
    const now = why ? 0 : addr;
    // A new address: the workers masquerade as it from the publish below, and only then are the
    // old address's flows forgotten (forgotten first, a LAN host's new flows in between would
    // take the old address and keep it)
    const change = now && now !== this.publicAddr ? { wan: this.wan!, old: this.lastPublic, now } : undefined;
    this.publicAddr = now;
    if (now) this.lastPublic = now;

    const mtu = this.wantedMtu(net);
    if (mtu !== this.mtu) {
      this.wiring.setMtu([...this.tuns.keys()], mtu);
      this.log(`MTU of the TUN devices now ${mtu} (was ${this.mtu})`);
      this.mtu = mtu;
    }

    // NAT66 as the WAN's first global IPv6 address, or with --public6 that one while it is there
    const want6 = this.o.publicAddr6;
    const nat66 = masqSources6(this.policy).length > 0;
    const masq6 = !nat66
      ? ""
      : want6 !== undefined
        ? wanIf?.addrs6.some((a) => a.addr === want6)
          ? want6
          : ""
        : (wanIf?.addrs6[0]?.addr ?? "");
    if (wanIf)
      this.wanOnLink6 = [
        ...new Set(
          wanIf.addrs6.filter((a) => a.bits < 128).map((a) => formatPrefix6(parsePrefix6(`${a.addr}/${a.bits}`))),
        ),
      ];
    const masq6Change = masq6 !== this.masqAddr6 ? { old: this.masqAddr6, now: masq6 } : undefined;
    this.masqAddr6 = masq6;
    if (masq6) this.lastMasq6 = masq6;
    if (!nat66) this.lastMasq6 = "";

    this.syncRules();
    // the workers' view at once: between the rules and the view, a flow could be made for an
    // address whose replies the rules no longer bring to ipmasq (the gateway's stack resets them)
    this.publish(net);
    if (change) {
      for (const l of this.publicListeners) l(change);
      this.syncRules(); // port forwards moved to the new address
    }
    if (masq6Change) for (const l of this.masq6Listeners) l(masq6Change);
    this.followPrefixes(served);
    // IPv6 forwarding on once every interface's IPv6 goes through its device (the filter)
    if (!this.forwarding6) {
      this.forwarding6 = true;
      if (this.wiring.enableForwarding6() && !adopted)
        this.log(
          "IPv6 forwarding was already on (the kernel forwarded IPv6 without a filter): ipmasq filters it now; a stop leaves it on, as found",
        );
    }

    // receive offload: on each LAN interface and the WAN, again on a device made anew
    if (this.o.groHoldUs !== undefined) {
      const want = [...this.lanInterfaces(net), ...(wanIf ? [wanIf] : [])];
      const todo = want.filter((i) => this.tunedIndex.get(i.name) !== i.index);
      if (todo.length) {
        if (!adopted) {
          const r = this.wiring.tuneReceive(
            todo.map((i) => i.name),
            offloadSettings(),
          );
          if (r.problem) this.log(r.problem);
          if (r.changed.length)
            this.log(`receive offload on ${r.changed.join(", ")}: GRO, also for forwarded UDP${this.holdSays()}`);
        }
        for (const i of todo) {
          this.tunedIndex.set(i.name, i.index);
          this.hold?.forget(i.name);
        }
        this.sampleReceive();
      }
    }
    this.steer();
  }

  // Every interface but the WAN is a LAN for IPv6 (routed: no MASQ rule names it).
  private followPrefixes(served: Iface[]): void {
    const seen = new Map<string, LanPrefix6>(); // two addresses of one prefix: one prefix
    for (const i of served)
      if (i.name !== this.wan)
        for (const a of i.addrs6) {
          const prefix = formatPrefix6(parsePrefix6(`${a.addr}/${a.bits}`));
          seen.set(`${i.name} ${prefix}`, { iface: i.name, prefix });
        }
    const now = [...seen.values()];
    const has = (list: LanPrefix6[], p: LanPrefix6): boolean =>
      list.some((q) => q.iface === p.iface && q.prefix === p.prefix);
    const gone = this.lanPrefixes6.filter((p) => !has(now, p));
    const added = now.filter((p) => !has(this.lanPrefixes6, p));
    this.lanPrefixes6 = now;
    if (gone.length || added.length) for (const l of this.prefixListeners) l({ gone, added });
  }

  // The rules for the devices, the WAN and its address, the policy and the mapped ports.
  private syncRules(): void {
    this.wiring.syncRules(
      dynamicRules({
        // while it waits, the WAN keeps the rules of its last address: a reply of a flow that
        // outlives a short outage must reach ipmasq, not the gateway's own stack (a reset)
        base: { tun: this.o.tun, table: this.o.table },
        devices: this.wiring.devices,
        wan: this.wan,
        publicAddr: this.publicAddr || this.lastPublic || (this.o.publicAddr ?? 0),
        natRanges: this.o.natRanges,
        policy: this.policy,
        mappedPorts: this.mappedPorts,
        ipv6: ipv6Enabled(),
        // (with --public6 from the start: an HA backup's rules are ready before the address comes,
        // else the first segments of a taken-over NAT66 connection meet the kernel, which resets it)
        masqAddr6:
          this.masqAddr6 || this.lastMasq6 || (masqSources6(this.policy).length ? (this.o.publicAddr6 ?? "") : ""),
        wanOnLink6: this.wanOnLink6,
      }),
    );
  }

  // Both directions of a flow to one queue (host/tun/steering.ts): a device's packets are
  // steered by their destination, or by their source on the WAN's device.
  private steer(): void {
    const want: Array<[string, RemoteEnd]> = [
      [this.o.tun, "destination"], // the gateway's own traffic
      ...this.wiring.devices.map((d): [string, RemoteEnd] => [d.name, d.iface === this.wan ? "source" : "destination"]),
    ];
    for (const [name, end] of want) {
      const tun = this.tuns.get(name);
      if (!tun || this.steered.get(name) === end || this.steeringRefused) continue;
      const why = steerQueues(tun.fds, end);
      if (why) {
        this.steeringRefused = true;
        this.log(
          `a flow's two directions may be read by different workers (costs CPU, not correctness): steering the TUN queues failed: ${why}`,
        );
        return;
      }
      this.steered.set(name, end);
    }
  }

  // Every HOLD_SAMPLE_MS: each tuned interface's receive rate decides whether it holds bursts.
  sampleReceive(): void {
    this.hold?.sample([...this.tunedIndex.keys()]);
  }

  receiveHolds(): HoldStatus[] {
    return this.hold?.status() ?? [];
  }

  private holdSays(): string {
    if (!this.o.groHoldUs) return "";
    return `; bursts held up to ${this.o.groHoldUs} µs ${this.o.groBusyPps ? `while an interface receives at least ${this.o.groBusyPps} packets/s` : "always"}`;
  }

  private addDevice(iface: string): void {
    const used = new Set(this.wiring.devices.map((d) => Number(d.name.slice(this.o.tun.length + 1))));
    let slot = 1;
    while (used.has(slot)) slot++;
    const d: IngressDevice = { iface, name: `${this.o.tun}-${slot}`, table: this.o.table + slot };
    const tun = openTun(d.name, this.o.queues);
    this.tuns.set(d.name, tun);
    this.steered.delete(d.name);
    try {
      this.wiring.addDevice(d, this.mtu);
    } catch (e) {
      closeTun(tun);
      this.tuns.delete(d.name);
      throw e;
    }
    if (this.published) this.log(`new interface ${iface}: its packets come in through ${d.name}`);
  }

  private publish(net: NetState): void {
    const v: NetworkView = {
      publicAddr: this.publicAddr,
      wan: this.wan ?? "",
      standby: this.standby,
      ingress: [
        { iface: "lo", wan: false, fds: this.base!.fds },
        ...this.wiring.devices.map((d) => ({
          iface: d.iface,
          wan: d.iface === this.wan,
          fds: this.tuns.get(d.name)!.fds,
        })),
      ],
      writeFds: this.base!.fds,
      addrs: net.interfaces.flatMap((i) => i.addrs.map((a) => ({ iface: i.name, addr: a.addr }))),
      addrs6: net.interfaces.flatMap((i) => i.addrs6.map((a) => ({ iface: i.name, ...a }))),
      routes: net.routes,
    };
    const text = JSON.stringify(v);
    if (text === this.published) return;
    this.published = text;
    this.view.publish(v);
  }

  get deviceNames(): string[] {
    return [...this.tuns.keys()];
  }
  get offloads(): string[] {
    return this.base?.offloads ?? [];
  }

  // Graceful restart: the devices outlive our fds (and keep their routes) for the next process.
  persist(): void {
    for (const t of this.tuns.values()) if (t.fds.length) setPersist(t.fds[0], true);
  }

  close(): void {
    for (const t of this.tuns.values()) closeTun(t);
  }
}
