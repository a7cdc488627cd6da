// Builds the ICMP error the gateway sends itself (destination unreachable: administratively
// prohibited when no session can be made, port unreachable for REJECT, net unreachable while the
// WAN is down) in place of the packet that caused it, in the same slot: RFC 792 says the
// original header plus 8 bytes go back.
import * as L from "../../assembly/layout";
import type { Core } from "../core/core";
import {
  emitIpv4,
  parseIpv4,
  IPV4_HEADER,
  IPV4_CHECKSUM,
  ICMP_TYPE,
  ICMP_CODE,
  ICMP_CHECKSUM,
  ICMP_HEADER,
} from "../net/wire";

// ICMP types that are errors (RFC 792 / 1122): no error is ever sent about one.
export const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export const ICMP_CODE_NET_UNREACH = 0;
export const ICMP_CODE_PORT_UNREACH = 3;
export const ICMP_CODE_ADMIN_PROHIBITED = 13;

const TTL = 64; // RFC 1700's default

// Returns the new length (virtio_net_hdr included), or 0 if no error may be sent about this packet.
export function buildUnreachable(
  u8: Uint8Array,
  core: Core,
  vnet: number,
  n: number,
  from: number,
  code: number,
): number {
  const dv = new DataView(u8.buffer);
  const ip = vnet + L.VNET_HDR_LEN;
  const orig = parseIpv4(u8, dv, ip);
  // never about an ICMP error (RFC 1122 3.2.2)
  if (orig.proto === L.PROTO_ICMP && ICMP_ERROR_TYPES.has(u8[ip + orig.ihl + ICMP_TYPE])) return 0;
  const quoted = Uint8Array.from(u8.subarray(ip, ip + Math.min(n - L.VNET_HDR_LEN, orig.ihl + 8)));
  const total = IPV4_HEADER + ICMP_HEADER + quoted.length;
  u8.fill(0, vnet, vnet + L.VNET_HDR_LEN + total);
  emitIpv4(u8, dv, ip, { totalLength: total, ttl: TTL, proto: L.PROTO_ICMP, src: from, dst: orig.src });
  dv.setUint16(ip + IPV4_CHECKSUM, ~core.sum(ip, IPV4_HEADER, 0) & 0xffff, true); // the core's sums are in memory order
  const icmp = ip + IPV4_HEADER;
  u8[icmp + ICMP_TYPE] = L.ICMP_DEST_UNREACH;
  u8[icmp + ICMP_CODE] = code;
  u8.set(quoted, icmp + ICMP_HEADER);
  dv.setUint16(icmp + ICMP_CHECKSUM, ~core.sum(icmp, ICMP_HEADER + quoted.length, 0) & 0xffff, true);
  return L.VNET_HDR_LEN + total;
}
