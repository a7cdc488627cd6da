// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") by name, both ways: the one
// table for rule parsing, listings, saved rules, `ip rule` arguments and metrics.
import * as L from "../../assembly/layout";

export const PROTO_ALL = 0; // ipchains' "all": any protocol

const NAMES: Record<number, string> = {
  [PROTO_ALL]: "all",
  [L.PROTO_ICMP]: "icmp",
  [L.PROTO_TCP]: "tcp",
  [L.PROTO_UDP]: "udp",
};

// "tcp", or the number for a protocol without a name here.
export const protoName = (proto: number): string => NAMES[proto] ?? String(proto);

// The number for "tcp", "UDP", "all"…, or undefined.
export const protoNumber = (name: string): number | undefined => {
  const found = Object.entries(NAMES).find(([, n]) => n === name.toLowerCase());
  return found ? Number(found[0]) : undefined;
};
