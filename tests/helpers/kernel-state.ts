// What a gateway run must leave exactly as it found it, read inside a namespace.
import { Topology } from "./topology";

export function kernelState(t: Topology, ns: string): string {
  const parts = [
    t.exec(ns, ["ip", "rule"]),
    t.exec(ns, ["ip", "route", "show", "table", "all"]),
    t.exec(ns, ["ip", "-o", "link"]).replace(/ +link\/\S+ [0-9a-f:]+ brd [0-9a-f:]+/g, ""),
    t.exec(ns, ["sysctl", "-a", "-r", "^net\\.ipv4\\.(ip_forward|ip_local_port_range|conf\\.)"]),
    receiveOffload(t, ns),
  ];
  return parts.join("\n---\n");
}

// The receive-offload settings ipmasq changes on its interfaces (host/kernel/receive-offload.ts).
function receiveOffload(t: Topology, ns: string): string {
  const names = t.exec(ns, ["ip", "-o", "link"]).split("\n").map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((n) => n && n !== "lo") as string[];
  return names.flatMap((dev) => {
    try {
      const features = t.exec(ns, ["ethtool", "-k", dev]).split("\n").filter((l) => /^(generic-receive-offload|rx-udp-gro-forwarding):/.test(l));
      const sysfs = t.exec(ns, ["cat", `/sys/class/net/${dev}/gro_flush_timeout`, `/sys/class/net/${dev}/napi_defer_hard_irqs`]).split("\n");
      return [`${dev}: ${[...features, ...sysfs].join(" ")}`];
    } catch {
      return []; // removed since it was listed (a stopping gateway's TUN): not there
    }
  }).join("\n");
}
