// The kernel's own NAT in the gateway namespace, the row every benchmark compares with: nftables
// masquerade of the LAN out of eth0, IPv6 routed behind a stateful filter (what ipmasq does
// for IPv6: out from the LAN, in only for established flows), and (for the fair second row)
// ipmasq's receive offload on the gateway's interfaces.
import type { Topology } from "../harness/topology";
import { offloadSettings, holdSettings, DEFAULT_GRO_HOLD_US } from "../host/kernel/receive-offload";

const MASQUERADE =
  'table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "eth0" ip saddr 192.168.0.0/24 masquerade\n }\n}\n' +
  'table ip6 filter {\n chain forward6 {\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n  iifname "eth1" accept\n }\n}\n';

const ipv6 = (t: Topology): boolean => t.exec(t.gw, ["sysctl", "-n", "net.ipv6.conf.all.disable_ipv6"]).trim() === "0";

export function kernelMasquerade(t: Topology, on: boolean): void {
  if (on) {
    t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    t.exec(t.gw, ["nft", "-f", "-"], { input: MASQUERADE });
    if (ipv6(t)) t.exec(t.gw, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  } else {
    t.exec(t.gw, ["nft", "delete", "table", "ip", "nat"]);
    t.exec(t.gw, ["nft", "delete", "table", "ip6", "filter"]);
    t.exec(t.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    if (ipv6(t)) t.exec(t.gw, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
  }
}

// The receive offload ipmasq sets on its interfaces under load (the benchmarks' loads all are): same topology, same interface settings; with
// `values`, puts those back. Returns the values it replaced.
export function setReceiveOffload(t: Topology, values?: Map<string, string>): Map<string, string> {
  const was = new Map<string, string>();
  for (const dev of ["eth1", "eth0"]) {
    for (const s of [...offloadSettings(), ...holdSettings(DEFAULT_GRO_HOLD_US)]) {
      const key = `${dev} ${s.name}`;
      const path = `/sys/class/net/${dev}/${s.name}`;
      was.set(
        key,
        s.kind === "sysfs"
          ? t.exec(t.gw, ["cat", path]).trim()
          : /: (\S+)/.exec(
              t
                .exec(t.gw, ["ethtool", "-k", dev])
                .split("\n")
                .find((l) => l.startsWith(`${s.name}:`))!,
            )![1],
      );
      const value = values?.get(key) ?? s.value;
      if (s.kind === "sysfs") t.exec(t.gw, ["sh", "-c", `echo ${value} > ${path}`]);
      else t.exec(t.gw, ["ethtool", "-K", dev, s.name, value]);
    }
  }
  return was;
}
