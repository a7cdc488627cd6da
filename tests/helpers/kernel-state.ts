// What a gateway run must leave exactly as it found it, read inside a namespace.
import { Topology } from "./topology";

export function kernelState(t: Topology, ns: string): string {
  const parts = [
    t.exec(ns, ["ip", "rule"]),
    t.exec(ns, ["ip", "route", "show", "table", "all"]),
    t.exec(ns, ["ip", "-o", "link"]).replace(/ +link\/\S+ [0-9a-f:]+ brd [0-9a-f:]+/g, ""),
    t.exec(ns, ["sysctl", "-a", "-r", "^net\\.ipv4\\.(ip_forward|ip_local_port_range|conf\\.)"]),
  ];
  return parts.join("\n---\n");
}
