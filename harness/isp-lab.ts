// An ISP for IPv6, in the wan namespace of a dual-stack topology: Debian's kea-dhcp6-server
// delegates prefixes (a /56 from a /48 pool, routed to the customer by kea-route.sh) and radvd
// advertises the WAN /64. The gateway is numbered as a home router is: its WAN address and
// default route from the advertisements, its LAN prefix from the delegation — by dhcpcd and
// dnsmasq with the configurations docs/ipv6.md gives (docs/ipv6/), the LAN host by SLAAC. No
// static IPv6 address is left but the ISP's own.
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { makeTopology, until, GW_LAN6, GW_WAN6, LAN6, WAN6, type Topology } from "./topology";

const ISP = join(__dirname, "isp");
export const DOCS_IPV6 = join(__dirname, "..", "docs", "ipv6");

// Where Debian keeps kea's hook libraries (the directory is named for the architecture).
function keaHooks(): string {
  for (const d of readdirSync("/usr/lib")) {
    const hooks = join("/usr/lib", d, "kea", "hooks");
    if (existsSync(join(hooks, "libdhcp_run_script.so"))) return hooks;
  }
  throw new Error("kea's run_script hook is missing (Debian package kea-dhcp6-server)");
}

export interface IspLab extends Topology {
  // From now on the ISP delegates out of `pool` (a /48, e.g. "2001:db8:100::"): kea reloads.
  delegateFrom(pool: string): void;
  startIsp(): Promise<void>;
  // The gateway's DHCPv6 client and LAN advertisements (docs/ipv6/dhcpcd.conf, dnsmasq.conf).
  startDhcpcd(): ChildProcess;
  startDnsmasq(): ChildProcess;
  renew(): void; // dhcpcd asks for its lease again now (as after a reconnect)
  // global IPv6 addresses of an interface in a namespace, with their flags (ip -j)
  addrs6(ns: string, dev: string): Array<{ addr: string; preferred: number; deprecated: boolean }>;
  log(name: "kea" | "dhcpcd" | "dnsmasq" | "radvd"): string;
}

export function makeIspLab(tag: string): IspLab {
  const topo = makeTopology(tag, { ipv6: true });
  const logs: Record<string, string> = { kea: "", dhcpcd: "", dnsmasq: "", radvd: "" };
  const keep = (name: string, c: ChildProcess): ChildProcess => {
    c.stdout?.on("data", (d) => (logs[name] += d));
    c.stderr?.on("data", (d) => (logs[name] += d));
    return c;
  };
  try {
    // the static numbering makeTopology gave, but the ISP's router's own address
    topo.exec(topo.lan, ["ip", "-6", "route", "del", "default"]);
    topo.exec(topo.lan, ["ip", "-6", "addr", "del", `${LAN6}/64`, "dev", "lan0"]);
    topo.exec(topo.gw, ["ip", "-6", "route", "del", "default"]);
    topo.exec(topo.gw, ["ip", "-6", "addr", "del", `${GW_LAN6}/64`, "dev", "eth1"]);
    topo.exec(topo.gw, ["ip", "-6", "addr", "del", `${GW_WAN6}/64`, "dev", "eth0"]);
    topo.exec(topo.wan, ["ip", "-6", "route", "del", "2001:db8:1::/64"]);
    topo.exec(topo.wan, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  } catch (e) {
    topo.destroy();
    throw e;
  }
  const keaConf = join(topo.dir, "kea-dhcp6.json");
  let kea: ChildProcess | undefined;
  let dhcpcd: ChildProcess | undefined;
  const lab: IspLab = {
    ...topo,
    delegateFrom(pool) {
      const text = readFileSync(join(ISP, "kea-dhcp6.json"), "utf8")
        .replaceAll("@DIR@", topo.dir)
        .replaceAll("@HOOKS@", keaHooks())
        .replaceAll("@ROUTE@", join(ISP, "kea-route.sh"))
        .replaceAll("@POOL@", pool);
      writeFileSync(keaConf, text);
      if (kea?.pid) process.kill(kea.pid, "SIGHUP");
    },
    async startIsp() {
      // kea's pid and lock files go to the lab's directory, not /run/kea
      kea = keep(
        "kea",
        topo.spawn(topo.wan, [
          "env",
          `KEA_PIDFILE_DIR=${topo.dir}`,
          `KEA_LOCKFILE_DIR=${topo.dir}`,
          "kea-dhcp6",
          "-c",
          keaConf,
        ]),
      );
      keep(
        "radvd",
        topo.spawn(topo.wan, [
          "radvd",
          "-n",
          "-m",
          "stderr",
          "-C",
          join(ISP, "radvd-wan.conf"),
          "-p",
          join(topo.dir, "radvd.pid"),
        ]),
      );
      await until(() => logs.kea.includes("DHCP6_STARTED"), 10_000);
    },
    startDhcpcd() {
      // dhcpcd keeps its DUID and leases under /var/lib/dhcpcd and its sockets under /run: a
      // mount namespace of its own gives it the lab's directory for both. No hook script runs
      // (-c /bin/true): the default hooks would write the machine's /etc/resolv.conf.
      // --nodev: the lab has no udev to say when its interfaces are ready.
      const db = join(topo.dir, "dhcpcd");
      mkdirSync(db, { recursive: true });
      const conf = join(DOCS_IPV6, "dhcpcd.conf");
      dhcpcd = keep(
        "dhcpcd",
        topo.spawn(topo.gw, [
          "unshare",
          "-m",
          "sh",
          "-c",
          `mount --bind ${db} /var/lib/dhcpcd && mount -t tmpfs tmpfs /run && exec dhcpcd -B -d --nodev -f ${conf} -c /bin/true`,
        ]),
      );
      return dhcpcd;
    },
    startDnsmasq() {
      return keep(
        "dnsmasq",
        topo.spawn(topo.gw, [
          "dnsmasq",
          "-k",
          `--conf-file=${join(DOCS_IPV6, "dnsmasq.conf")}`,
          `--pid-file=${join(topo.dir, "dnsmasq.pid")}`,
          `--dhcp-leasefile=${join(topo.dir, "dnsmasq.leases")}`,
          "--log-facility=-",
        ]),
      );
    },
    renew() {
      if (dhcpcd?.pid) process.kill(dhcpcd.pid, "SIGUSR1");
    },
    addrs6(ns, dev) {
      const j = JSON.parse(topo.exec(ns, ["ip", "-j", "-6", "addr", "show", "dev", dev, "scope", "global"])) as Array<{
        addr_info: Array<{ local?: string; preferred_life_time: number; deprecated?: boolean }>;
      }>;
      // (an address being removed can show without its `local`)
      return (j[0]?.addr_info ?? [])
        .filter((a) => a.local)
        .map((a) => ({
          addr: a.local!,
          preferred: a.preferred_life_time,
          deprecated: a.deprecated === true,
        }));
    },
    log: (name) => logs[name],
  };
  return lab;
}

export { WAN6 };
