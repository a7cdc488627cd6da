// Builds the ICMP error the gateway sends itself (destination unreachable: administratively
// prohibited when no session can be made, port unreachable for REJECT) in place of the packet
// that caused it, in the same slot: RFC 792 says the original header plus 8 bytes go back.
import * as L from "../../assembly/layout";
import { Core } from "../core/core";

// ICMP types that are errors (RFC 792 / 1122): no error is ever sent about one.
export const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export const ICMP_CODE_NET_UNREACH = 0;
export const ICMP_CODE_PORT_UNREACH = 3;
export const ICMP_CODE_ADMIN_PROHIBITED = 13;

// Returns the new length (virtio_net_hdr included), or 0 if no error may be sent about this packet.
export function buildUnreachable(u8: Uint8Array, core: Core, vnet: number, n: number, from: number, code: number): number {
  const ip = vnet + L.VNET_HDR_LEN;
  const ihl = (u8[ip] & 15) * 4;
  const quoted = Math.min(n - L.VNET_HDR_LEN, ihl + 8);
  // never about an ICMP error (RFC 1122 3.2.2)
  if (u8[ip + 9] === L.PROTO_ICMP && ICMP_ERROR_TYPES.has(u8[ip + ihl])) return 0;
  const orig = Uint8Array.from(u8.subarray(ip, ip + quoted));
  const dst = ((orig[12] << 24) | (orig[13] << 16) | (orig[14] << 8) | orig[15]) >>> 0;
  const total = 20 + 8 + quoted;
  u8.fill(0, vnet, vnet + L.VNET_HDR_LEN + total);
  const h = u8.subarray(ip, ip + total);
  h[0] = 0x45; h[2] = total >> 8; h[3] = total & 255; h[8] = 64; h[9] = L.PROTO_ICMP;
  h.set([from >>> 24, (from >>> 16) & 255, (from >>> 8) & 255, from & 255], 12);
  h.set([dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255], 16);
  const ipSum = ~core.sum(ip, 20, 0) & 0xffff;
  h[10] = ipSum & 255; h[11] = ipSum >> 8; // the core's sums are in memory order
  h[20] = L.ICMP_DEST_UNREACH; h[21] = code;
  h.set(orig, 28);
  const icmpSum = ~core.sum(ip + 20, 8 + quoted, 0) & 0xffff;
  h[22] = icmpSum & 255; h[23] = icmpSum >> 8;
  return L.VNET_HDR_LEN + total;
}
