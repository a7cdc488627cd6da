// NAT-PMP (RFC 6886) and PCP (RFC 6887) on the LAN side (off by default, `--pcp on`): LAN
// applications ask for inbound mappings with lifetimes. Both protocols share UDP port 5351 and are
// told apart by their version byte. A mapping is a pinhole on the table's mapping of the asking
// host's port (host/table/alg-state.ts): open to any peer until it expires, and listed by
// `ipmasq conns`.
//
// Only the LAN may ask, and only for itself: one socket per LAN interface, bound to that device
// (SO_BINDTODEVICE), so a request that came in on any other interface never reaches us, whatever
// address it was sent to; the source must be in a masqueraded network; a mapping is always for
// the asking address (PCP's THIRD_PARTY is refused); each host holds at most MAX_PER_HOST.
//
// Over IPv6 (PCP only: NAT-PMP is IPv4's) nothing is translated: a MAP opens a pinhole in the
// firewall to the asking address:port itself (host/table/pinholes6.ts; RFC 6887 as a firewall,
// RFC 6092 REC-48), under the same rules: a second socket per LAN interface, the source in one of
// the LAN's IPv6 prefixes, the same quota.
import { createSocket, type Socket, type RemoteInfo } from "node:dgram";
import type { MappedBy, MappingChange } from "./mapping-change";
import type { AlgState } from "../table/alg-state";
import { parseAddr, type Prefix, inPrefix } from "../net/addr";
import { parseAddr6, formatAddr6, type Prefix6, inPrefix6 } from "../net/addr6";
import type { Pinholes6 } from "../table/pinholes6";
import { bindToDevice } from "../net/bind-device";
import * as L from "../../assembly/layout";

export const PCP_PORT = 5351;
export const MAX_LIFETIME = 24 * 3600;
export const MAX_PER_HOST = 64; // mappings one LAN host may hold (RFC 6887 17.1: a quota per host)

// NAT-PMP result codes (RFC 6886 3.5) and PCP result codes (RFC 6887 7.4)
const PMP = { SUCCESS: 0, UNSUPPORTED_VERSION: 1, REFUSED: 2, OUT_OF_RESOURCES: 4, UNSUPPORTED_OPCODE: 5 };
const PCP = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  ADDRESS_MISMATCH: 12,
};
const PCP_OPTION_THIRD_PARTY = 1;

// A PCP MAP request read, with its answer begun (`out`) and a way to refuse it.
interface MapRequest {
  out: Buffer;
  proto: number;
  internal: number;
  suggested: number;
  lifetime: number;
  refuse: (r: number) => Buffer;
}

// What the PCP server needs of NAT66 (host/table/flows6.ts): whose address it masquerades, as
// what, and public ports held for mappings.
export interface Nat66Mappings {
  masqueraded(a: Uint8Array): boolean;
  address(): Uint8Array | undefined;
  hold(proto: number, lan: Uint8Array, lanPort: number, want: number): number;
  release(proto: number, lan: Uint8Array, lanPort: number): void;
}

// NAT-PMP messages (RFC 6886 3.2-3.5)
const PMP_VERSION = 0; // 0
const PMP_OPCODE = 1; // + PMP_RESPONSE in an answer
const PMP_RESULT = 2; // u16, answers
const PMP_EPOCH = 4; // u32, answers: seconds since the mappings were lost
const PMP_PUBLIC_ADDR = 8; // u32, answer to opcode 0
const PMP_REQ_INTERNAL = 4; // u16, map request
const PMP_REQ_SUGGESTED = 6; // u16
const PMP_REQ_LIFETIME = 8; // u32
const PMP_MAP_INTERNAL = 8; // u16, map answer
const PMP_MAP_EXTERNAL = 10; // u16
const PMP_MAP_LIFETIME = 12; // u32
const PMP_RESPONSE = 128;

// PCP messages (RFC 6887 7.1, 7.2, 11.1)
const PCP_VERSION = 0; // 2
const PCP_OPCODE = 1; // R bit (0x80: a response) | opcode
const PCP_RESULT = 3; // answers
const PCP_LIFETIME = 4; // u32
const PCP_EPOCH = 8; // u32, answers
const PCP_CLIENT = 8; // 16 bytes, requests: the client's address, IPv4-mapped
const PCP_HEADER = 24;
const PCP_R = 0x80;
const PCP_MAX = 1100;
const MAP_PROTO = 36; // MAP body (after the header): nonce 24-35, protocol, 3 reserved,
const MAP_INTERNAL_PORT = 40; // u16
const MAP_EXTERNAL_PORT = 42; // u16, suggested in a request, assigned in an answer
const MAP_EXTERNAL_ADDR = 44; // 16 bytes, IPv4-mapped
const MAP_REQUEST_SIZE = 60; // options follow
const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
const PCP_OP = { ANNOUNCE: 0, MAP: 1 };
const PMP_PROTO: Record<number, number> = { 1: L.PROTO_UDP, 2: L.PROTO_TCP };

export class PortMappingServer {
  private readonly socks: Socket[] = [];
  private readonly started = Date.now();
  refused = 0; // requests from outside the masqueraded networks

  // `publicAddr` is read at each request: it follows the WAN.
  constructor(
    private readonly alg: AlgState,
    private readonly lanNets: () => Prefix[],
    private readonly publicAddr: () => number,
    private readonly onMapping: (m: MappingChange) => void = () => {},
    private readonly ipv6?: {
      pinholes: Pinholes6;
      lanPrefixes: () => Prefix6[];
      onPinhole: (what: string) => void; // a line for the log
      nat66?: Nat66Mappings; // a host in a network NAT66 masquerades gets a mapping, not a pinhole
    },
  ) {}

  // Opens, renews or (lifetime 0) closes a pinhole, and tells the event feed.
  private map(by: MappedBy, proto: number, host: number, internal: number, want: number, lifetime: number): number {
    const before = this.alg.pinholeOf(proto, host, internal);
    const port = this.alg.pinhole(proto, host, internal, want, lifetime, false, { by });
    const pub = lifetime === 0 ? before?.port : port;
    if (pub !== undefined && pub > 0)
      this.onMapping({
        by,
        op: lifetime === 0 ? "delete" : "map",
        lifetime,
        proto,
        lanAddr: host,
        lanPort: internal,
        wanPort: pub,
      });
    return port;
  }

  private epoch(): number {
    return Math.floor((Date.now() - this.started) / 1000);
  }

  // One socket per LAN interface and family, each hearing only what arrived on its device. A
  // kernel without IPv6 gets IPv4's alone.
  async listen(lanIfaces: string[]): Promise<void> {
    for (const iface of lanIfaces) {
      await this.listenOn(iface, "udp4");
      if (this.ipv6) await this.listenOn(iface, "udp6").catch(() => undefined);
    }
  }

  private async listenOn(iface: string, type: "udp4" | "udp6"): Promise<void> {
    const sock = createSocket({ type, reuseAddr: true, ...(type === "udp6" ? { ipv6Only: true } : {}) });
    sock.on("message", (msg, r) => {
      const reply = this.answer(msg, r);
      if (reply) sock.send(reply, r.port, r.address);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(PCP_PORT, type === "udp6" ? "::" : "0.0.0.0", resolve);
      });
      bindToDevice(sock, iface);
    } catch (e) {
      sock.close();
      throw e;
    }
    this.socks.push(sock);
  }

  close(): void {
    for (const s of this.socks) s.close();
  }

  answer(msg: Buffer, r: RemoteInfo): Buffer | undefined {
    if (msg.length < 2) return undefined;
    if (r.family === "IPv6") return this.answer6(msg, r);
    const src = parseAddr(r.address);
    if (!this.lanNets().some((p) => inPrefix(src, p))) {
      this.refused++;
      return undefined;
    }
    if (msg[PMP_VERSION] === 0) return this.natPmp(msg, r);
    if (msg[PCP_VERSION] === 2) return this.pcp(msg, r);
    if (msg[PMP_OPCODE] >= PMP_RESPONSE) return undefined; // a response: never answered
    // an unknown version: NAT-PMP's answer names version 0 (RFC 6887 9 lets a PCP client fall back)
    const b = Buffer.alloc(8);
    b[PMP_OPCODE] = PMP_RESPONSE + msg[PMP_OPCODE];
    b.writeUInt16BE(PMP.UNSUPPORTED_VERSION, PMP_RESULT);
    b.writeUInt32BE(this.epoch(), PMP_EPOCH);
    return b;
  }

  private natPmp(msg: Buffer, r: RemoteInfo): Buffer | undefined {
    const op = msg[PMP_OPCODE];
    if (op >= PMP_RESPONSE) return undefined;
    const head = (size: number, result: number): Buffer => {
      const b = Buffer.alloc(size);
      b[PMP_OPCODE] = PMP_RESPONSE + op;
      b.writeUInt16BE(result, PMP_RESULT);
      b.writeUInt32BE(this.epoch(), PMP_EPOCH);
      return b;
    };
    if (op === 0) {
      const b = head(12, PMP.SUCCESS);
      b.writeUInt32BE(this.publicAddr(), PMP_PUBLIC_ADDR);
      return b;
    }
    const proto = PMP_PROTO[op];
    if (!proto || msg.length < 12) return head(8, PMP.UNSUPPORTED_OPCODE);
    const internal = msg.readUInt16BE(PMP_REQ_INTERNAL),
      suggested = msg.readUInt16BE(PMP_REQ_SUGGESTED);
    const lifetime = Math.min(msg.readUInt32BE(PMP_REQ_LIFETIME), MAX_LIFETIME);
    const b = head(16, PMP.SUCCESS);
    b.writeUInt16BE(internal, PMP_MAP_INTERNAL);
    const refuse = (result: number): Buffer => {
      b.writeUInt16BE(result, PMP_RESULT);
      return b;
    };
    if (internal === 0) return refuse(PMP.REFUSED); // "delete all" is not offered
    if (this.overQuota(proto, parseAddr(r.address), internal, lifetime)) return refuse(PMP.OUT_OF_RESOURCES);
    const port = this.map("nat-pmp", proto, parseAddr(r.address), internal, suggested || internal, lifetime);
    if (port < 0) return refuse(PMP.OUT_OF_RESOURCES);
    b.writeUInt16BE(port, PMP_MAP_EXTERNAL);
    b.writeUInt32BE(lifetime, PMP_MAP_LIFETIME);
    return b;
  }

  // What PCP requests of either family share (RFC 6887 7, 8, 11): an answer when that is all
  // there is to say (a malformed request, ANNOUNCE, a refusal), else the MAP's fields and its
  // answer, ready to be filled in. `isClient`: is the header's client address the source's?
  private pcpRequest(
    msg: Buffer,
    isClient: (client: Buffer) => boolean,
  ): {
    answer?: Buffer;
    map?: MapRequest;
  } {
    if (msg.length < PCP_HEADER || msg.length > PCP_MAX || msg.length % 4 !== 0) {
      return {
        answer:
          msg.length >= 2 && !(msg[PCP_OPCODE] & PCP_R)
            ? this.pcpHead(msg, PCP.MALFORMED_REQUEST, 0, PCP_HEADER)
            : undefined,
      };
    }
    if (msg[PCP_OPCODE] & PCP_R) return {}; // a response
    const op = msg[PCP_OPCODE] & ~PCP_R;
    const lifetime = Math.min(msg.readUInt32BE(PCP_LIFETIME), MAX_LIFETIME);
    if (!isClient(msg.subarray(PCP_CLIENT, PCP_CLIENT + 16)))
      return { answer: this.pcpHead(msg, PCP.ADDRESS_MISMATCH, 0, msg.length) };
    if (op === PCP_OP.ANNOUNCE) return { answer: this.pcpHead(msg, PCP.SUCCESS, 0, PCP_HEADER) };
    if (op !== PCP_OP.MAP) return { answer: this.pcpHead(msg, PCP.UNSUPP_OPCODE, 0, msg.length) };
    if (msg.length < MAP_REQUEST_SIZE) return { answer: this.pcpHead(msg, PCP.MALFORMED_REQUEST, 0, msg.length) };
    const refusal = this.optionRefusal(msg.subarray(MAP_REQUEST_SIZE));
    if (refusal !== undefined) return { answer: this.pcpHead(msg, refusal, 0, msg.length) };
    const out = this.pcpHead(msg, PCP.SUCCESS, lifetime, MAP_REQUEST_SIZE);
    msg.copy(out, PCP_HEADER, PCP_HEADER, MAP_REQUEST_SIZE); // nonce, protocol, internal port, suggestions: echoed, then filled in
    const refuse = (result: number): Buffer => {
      out[PCP_RESULT] = result;
      out.writeUInt32BE(0, PCP_LIFETIME);
      return out;
    };
    return {
      map: {
        out,
        proto: msg[MAP_PROTO],
        internal: msg.readUInt16BE(MAP_INTERNAL_PORT),
        suggested: msg.readUInt16BE(MAP_EXTERNAL_PORT),
        lifetime,
        refuse,
      },
    };
  }

  private pcp(msg: Buffer, r: RemoteInfo): Buffer | undefined {
    const src = parseAddr(r.address);
    const head = this.pcpRequest(
      msg,
      (client) => client.subarray(0, 12).equals(V4_MAPPED_PREFIX) && client.readUInt32BE(12) === src,
    );
    if (head.answer || !head.map) return head.answer;
    const { out, proto, internal, suggested, lifetime, refuse } = head.map;
    if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP) return refuse(PCP.UNSUPP_PROTOCOL);
    if (internal === 0) return refuse(PCP.MALFORMED_REQUEST);
    if (this.overQuota(proto, src, internal, lifetime)) return refuse(PCP.USER_EX_QUOTA);
    const port = this.map("pcp", proto, src, internal, suggested || internal, lifetime);
    if (port < 0) return refuse(PCP.NO_RESOURCES);
    out.writeUInt16BE(lifetime === 0 ? suggested : port, MAP_EXTERNAL_PORT);
    V4_MAPPED_PREFIX.copy(out, MAP_EXTERNAL_ADDR);
    out.writeUInt32BE(this.publicAddr(), MAP_EXTERNAL_ADDR + 12);
    return out;
  }

  // PCP over IPv6: the header as for IPv4, the client address the source itself; a MAP opens a
  // pinhole to that address:port (the external port and address are the internal ones), or under
  // NAT66 a mapping: a public port of the masquerade address held for it, the pinhole letting
  // anyone in through it.
  private answer6(msg: Buffer, r: RemoteInfo): Buffer | undefined {
    const v6 = this.ipv6!;
    const src = parseAddr6(r.address.replace(/%.*$/, ""));
    if (!v6.lanPrefixes().some((p) => inPrefix6(src, p))) {
      this.refused++;
      return undefined;
    }
    if (msg[PCP_VERSION] !== 2) return undefined; // NAT-PMP is IPv4's: nothing to fall back to
    const head = this.pcpRequest(msg, (client) => client.equals(src));
    if (head.answer || !head.map) return head.answer;
    const { out, proto, internal, lifetime, refuse } = head.map;
    if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP) return refuse(PCP.UNSUPP_PROTOCOL);
    if (internal === 0) return refuse(PCP.MALFORMED_REQUEST);
    const text = formatAddr6(src);
    const mine = v6.pinholes.list().filter((p) => p.addr === text);
    if (lifetime > 0 && mine.length >= MAX_PER_HOST && !mine.some((p) => p.proto === proto && p.port === internal))
      return refuse(PCP.USER_EX_QUOTA);
    const nat = v6.nat66?.masqueraded(src) ? v6.nat66 : undefined;
    if (nat) return this.map66(nat, head.map, src);
    if (!v6.pinholes.open(proto, src, internal, lifetime)) return refuse(PCP.NO_RESOURCES);
    v6.onPinhole(
      `PCP: ${proto === L.PROTO_TCP ? "tcp" : "udp"} [${text}]:${internal} ${lifetime ? `open to the WAN for ${lifetime} s` : "closed"}`,
    );
    out.writeUInt16BE(internal, MAP_EXTERNAL_PORT);
    src.forEach((b, i) => {
      out[MAP_EXTERNAL_ADDR + i] = b;
    });
    return out;
  }

  // A PCP MAP of a host NAT66 masquerades: its public port (the one it already has, the one it
  // suggests, or another) at the masquerade address, held while the mapping lives.
  private map66(nat: Nat66Mappings, m: MapRequest, src: Uint8Array): Buffer {
    const v6 = this.ipv6!;
    const { out, proto, internal, suggested, lifetime, refuse } = m;
    const masq = nat.address();
    if (!masq) return refuse(PCP.NETWORK_FAILURE);
    const had = v6.pinholes.get(proto, src, internal);
    const name = `PCP: ${proto === L.PROTO_TCP ? "tcp" : "udp"} [${formatAddr6(src)}]:${internal}`;
    if (lifetime === 0) {
      v6.pinholes.open(proto, src, internal, 0);
      if (had?.wanPort) nat.release(proto, src, internal);
      v6.onPinhole(`${name} closed`);
      out.writeUInt16BE(suggested, MAP_EXTERNAL_PORT);
    } else {
      const port = had?.wanPort || nat.hold(proto, src, internal, suggested || internal);
      if (port < 0) return refuse(PCP.NO_RESOURCES);
      if (!v6.pinholes.open(proto, src, internal, lifetime, port)) {
        if (!had?.wanPort) nat.release(proto, src, internal);
        return refuse(PCP.NO_RESOURCES);
      }
      v6.onPinhole(`${name} mapped at [${formatAddr6(masq)}]:${port} for ${lifetime} s`);
      out.writeUInt16BE(port, MAP_EXTERNAL_PORT);
    }
    masq.forEach((b, i) => {
      out[MAP_EXTERNAL_ADDR + i] = b;
    });
    return out;
  }

  // A new mapping for a host that already holds MAX_PER_HOST (renewing or deleting one is fine).
  private overQuota(proto: number, host: number, port: number, lifetime: number): boolean {
    if (lifetime === 0) return false;
    const mine = this.alg.pinholes().filter((p) => p.lanAddr === host);
    return mine.length >= MAX_PER_HOST && !mine.some((p) => p.proto === proto && p.lanPort === port);
  }

  // PCP options (RFC 6887 7.3): THIRD_PARTY (a mapping for another host) is refused; another
  // mandatory option (code < 128) we do not know is UNSUPP_OPTION; a cut option is malformed.
  private optionRefusal(opts: Buffer): number | undefined {
    for (let at = 0; at < opts.length; ) {
      if (at + 4 > opts.length) return PCP.MALFORMED_OPTION;
      const code = opts[at],
        len = opts.readUInt16BE(at + 2);
      if (at + 4 + len > opts.length) return PCP.MALFORMED_OPTION;
      if (code === PCP_OPTION_THIRD_PARTY) return PCP.NOT_AUTHORIZED;
      if (code < 128) return PCP.UNSUPP_OPTION;
      at += 4 + ((len + 3) & ~3);
    }
    return undefined;
  }

  private pcpHead(req: Buffer, result: number, lifetime: number, size: number): Buffer {
    const b = Buffer.alloc(Math.max(PCP_HEADER, Math.min(size, PCP_MAX)));
    b[PCP_VERSION] = 2;
    b[PCP_OPCODE] = PCP_R | (req[PCP_OPCODE] & ~PCP_R);
    b[PCP_RESULT] = result;
    b.writeUInt32BE(lifetime, PCP_LIFETIME);
    b.writeUInt32BE(this.epoch(), PCP_EPOCH);
    return b;
  }
}
