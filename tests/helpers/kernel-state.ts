// What a gateway run must leave exactly as it found it, read inside a namespace.
import { Topology } from "../../harness/topology";
import { receiveSettings } from "../../host/kernel/receive-offload";

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

// The receive-offload settings ipmasq changes on its interfaces (host/kernel/receive-offload.ts),
// one line per interface.
const SETTINGS = receiveSettings(1);
const FEATURES = new RegExp(`^(${SETTINGS.filter((s) => s.kind === "feature").map((s) => s.name).join("|")}):`);
const SYSFS = SETTINGS.filter((s) => s.kind === "sysfs").map((s) => s.name);

export function receiveOffload(t: Topology, ns: string): string {
  const names = t.exec(ns, ["ip", "-o", "link"]).split("\n").map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((n) => n && n !== "lo") as string[];
  return names.flatMap((dev) => {
    try {
      const features = t.exec(ns, ["ethtool", "-k", dev]).split("\n").filter((l) => FEATURES.test(l));
      const sysfs = t.exec(ns, ["cat", ...SYSFS.map((name) => `/sys/class/net/${dev}/${name}`)]).split("\n");
      return [`${dev}: ${[...features, ...sysfs].join(" ")}`];
    } catch {
      return []; // removed since it was listed (a stopping gateway's TUN): not there
    }
  }).join("\n");
}
