// NAT66's public ports: which LAN endpoint (a slot of endpoints6.ts) holds each port of the
// masquerade address, per protocol, and when a port let go may be taken again. Chosen as the
// IPv4 NAT chooses (conntrack.ts): the LAN end's own port when it is free and in the range (port
// preservation, RFC 4787 REQ-3's "should"), else a random free one of the range (RFC 6056
// algorithm 1). Host only, under the table's lock (flows6.ts).
import * as L from "../../assembly/layout";
import { natPorts, PortPicker } from "./port-space";

const PROTO_INDEX: Record<number, number> = { [L.PROTO_TCP]: 0, [L.PROTO_UDP]: 1, [L.PROTO_ICMPV6]: 2 };

export class Ports6 {
  private readonly picker = new PortPicker();

  constructor(
    private readonly dv: DataView,
    private readonly base: number,
  ) {}

  private at(proto: number, port: number): number {
    return this.base + (PROTO_INDEX[proto] * 65536 + port) * L.P6_SIZE;
  }

  // The endpoint slot holding the port, or -1.
  owner(proto: number, port: number): number {
    if (!(proto in PROTO_INDEX)) return -1;
    return this.dv.getUint32(this.at(proto, port), true) - 1;
  }

  private isFree(proto: number, port: number, now: number): boolean {
    const p = this.at(proto, port);
    if (this.dv.getUint32(p + L.P6_OWNER, true) !== 0) return false;
    const freed = this.dv.getUint32(p + L.P6_FREED_AT, true);
    return freed === 0 || now - freed >= L.PORT_REST_SECONDS;
  }

  // A free port for the LAN end's port `lanPort` (`want` first), or -1 when the range has none.
  choose(proto: number, lanPort: number, want: number, now: number, portMin: number, portMax: number): number {
    const space = natPorts(proto === L.PROTO_ICMPV6, lanPort, portMin, portMax);
    return this.picker.pick(proto, space, want, now, (port) => this.isFree(proto, port, now));
  }

  hold(proto: number, port: number, slot: number): void {
    this.dv.setUint32(this.at(proto, port) + L.P6_OWNER, slot + 1, true);
  }

  // Let go of: the port rests before another LAN end may have it.
  release(proto: number, port: number, now: number): void {
    const p = this.at(proto, port);
    this.dv.setUint32(p + L.P6_OWNER, 0, true);
    this.dv.setUint32(p + L.P6_FREED_AT, Math.max(1, now), true);
  }
}
