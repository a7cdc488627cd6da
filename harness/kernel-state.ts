// What a gateway run must leave exactly as it found it, read inside a namespace.
import type { Topology } from "./topology";

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

// The receive-offload settings a gateway may change, listed here from ethtool(8) and the kernel's
// sysfs documentation (not from ipmasq's own list, so a setting ipmasq forgets to restore still
// shows): one line per interface.
const FEATURES = /^(generic-receive-offload|rx-udp-gro-forwarding|rx-gro-list|large-receive-offload):/;
const SYSFS = ["gro_flush_timeout", "napi_defer_hard_irqs"];

export function receiveOffload(t: Topology, ns: string): string {
  const names = t
    .exec(ns, ["ip", "-o", "link"])
    .split("\n")
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n) => n && n !== "lo") as string[];
  return names
    .flatMap((dev) => {
      let features: string;
      try {
        features = t.exec(ns, ["ethtool", "-k", dev]);
      } catch (e) {
        // only a device removed since it was listed (a stopping gateway's TUN) may be skipped
        if (!new RegExp(`^\\d+: ${dev}[:@]`, "m").test(t.exec(ns, ["ip", "-o", "link"]))) return [];
        throw e;
      }
      const sysfs = SYSFS.map((name) => {
        try {
          return t.exec(ns, ["cat", `/sys/class/net/${dev}/${name}`]).trim();
        } catch {
          return "gone";
        }
      });
      const found = features.split("\n").filter((l) => FEATURES.test(l));
      if (found.length === 0)
        throw new Error(`ethtool -k ${dev} listed no receive-offload feature: the snapshot would compare nothing`);
      return [`${dev}: ${found.join(" ")} ${sysfs.join(" ")}`];
    })
    .join("\n");
}
