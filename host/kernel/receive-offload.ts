// Receive offload on the gateway's LAN and WAN interfaces. With GRO (also for forwarded UDP) the
// kernel merges a burst of one flow's packets into one super-packet before it reaches the TUN, so
// ipmasq reads, translates and writes it once and the kernel splits it again on the way out.
// Holding a burst open for a few microseconds (gro_flush_timeout) is what lets bursts form on
// interfaces without interrupt coalescing, such as veth; it delays a flow's packets by at most
// that hold. Measured on veth: 64-byte UDP through ipmasq went from 100 000 to 190 000 packets/s
// without loss, with ~50 datagrams per TUN read.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { runTool } from "./ip";

export interface ReceiveSetting {
  kind: "feature" | "sysfs"; // an `ethtool -k` feature, or a file in /sys/class/net/DEV/
  name: string;
  value: string;
}

export const DEFAULT_GRO_HOLD_US = 50;
// Bursts are held only while an interface receives at least this many packets a second: below
// it packets are too far apart to merge within a hold, and a hold would only delay them (a UDP
// request and its reply each waited a hold: a round trip through ipmasq took 262 µs, 105 without).
export const DEFAULT_GRO_BUSY_PPS = 20_000;

// What ipmasq sets on each LAN and WAN interface for as long as it runs.
export function offloadSettings(): ReceiveSetting[] {
  return [
    { kind: "feature", name: "generic-receive-offload", value: "on" },
    { kind: "feature", name: "rx-udp-gro-forwarding", value: "on" },
  ];
}

// What it sets while an interface is busy (receive-hold.ts decides when).
export function holdSettings(holdUs: number): ReceiveSetting[] {
  return [
    { kind: "sysfs", name: "gro_flush_timeout", value: String(holdUs * 1000) },
    // keep polling (not waiting for the next interrupt) while packets are held
    { kind: "sysfs", name: "napi_defer_hard_irqs", value: "1" },
  ];
}

const ethtool = (args: string[]): string => runTool("ethtool", "ethtool", args);

const sysfsPath = (dev: string, name: string): string => `/sys/class/net/${dev}/${name}`;

// The current values of `settings` on `dev`, undefined where this device or kernel cannot change
// one; `ethtool -k` is read once for all the features.
export function readSettings(dev: string, settings: ReceiveSetting[]): Array<string | undefined> {
  let features: string[] | undefined;
  return settings.map((s) => {
    if (s.kind === "sysfs") {
      const path = sysfsPath(dev, s.name);
      return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
    }
    features ??= ethtool(["-k", dev]).split("\n");
    const line = features.find((l) => l.startsWith(`${s.name}:`));
    if (!line || line.includes("[fixed]")) return undefined;
    return line
      .slice(s.name.length + 1)
      .trim()
      .split(/\s+/)[0];
  });
}

export function writeSetting(dev: string, s: ReceiveSetting, value: string): void {
  if (s.kind === "sysfs") writeFileSync(sysfsPath(dev, s.name), `${value}\n`);
  else ethtool(["-K", dev, s.name, value]);
}
