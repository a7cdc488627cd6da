// Source checks for a new flow's first packet, with the interface it really came in on: what
// the kernel's rp_filter and martian logging do, done here because the TUN path turns rp_filter
// off. Per flow, never per packet: established flows are held to their side by the core.
import * as L from "../../assembly/layout";
import { type Prefix, inPrefix, parsePrefix } from "../net/addr";
import { type Route, routeDev } from "../net/routes";

// off: no reverse-path check (asymmetric routing); loose: some route leads back to the source
// (rp_filter=2); strict: the route back leaves by the interface it came in on (rp_filter=1).
export type SpoofCheck = "off" | "loose" | "strict";
export const SPOOF_CHECKS: readonly SpoofCheck[] = ["off", "loose", "strict"];

// Sources no interface may send from (RFC 1122 3.2.1.3, RFC 5735): "this network", loopback,
// multicast, and class E with the limited broadcast. The gateway's own addresses are added.
const MARTIAN_SOURCES: Prefix[] = ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"].map(parsePrefix);

// Returns R_MARTIAN, R_SPOOFED, or R_NONE when the source may come from `iface`.
export function checkSource(
  mode: SpoofCheck,
  src: number,
  iface: string,
  own: ReadonlySet<number>,
  routes: Route[],
): number {
  if (iface === "lo") return L.R_NONE; // the gateway's own packets
  if (own.has(src) || MARTIAN_SOURCES.some((p) => inPrefix(src, p))) return L.R_MARTIAN;
  if (mode === "off") return L.R_NONE;
  const back = routeDev(routes, src);
  if (back === undefined) return L.R_SPOOFED;
  return mode === "strict" && back !== iface ? L.R_SPOOFED : L.R_NONE;
}
