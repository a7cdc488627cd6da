// Two gateways, one network, for the HA test and benchmark (docs/ha.md): a LAN switch and a WAN
// switch (bridges in namespaces of their own) with the LAN host, the WAN host and both gateways
// on them, and a sync link between the gateways. Nothing runs in them yet.
//
//   lan (192.168.0.10) --[lan switch]-- gw1 eth1 192.168.0.2 | gw2 eth1 192.168.0.3   (VIP .1)
//   wan (10.0.0.254)   --[wan switch]-- gw1 eth0 10.0.0.11   | gw2 eth0 10.0.0.12     (VIP 10.0.0.1)
//   gw1 sync0 10.9.0.1/29 ------------------------------------- gw2 sync0 10.9.0.2/29
// With { ipv6: true } also dual stack (the WAN router routes the LAN's /64 to the WAN VIP):
//   lan 2001:db8:1::10 -- gw1 eth1 2001:db8:1::2 | gw2 eth1 2001:db8:1::3 (VIP 2001:db8:1::1)
//   wan 2001:db8:ff::254 -- gw1 eth0 2001:db8:ff::11 | gw2 eth0 2001:db8:ff::12 (VIP 2001:db8:ff::1)
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "./topology";

const sh = (args: string[], timeout = 60_000): string =>
  execFileSync(args[0], args.slice(1), { encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });

export interface Pair {
  ns: Record<"lansw" | "wansw" | "lan" | "wan" | "gw1" | "gw2", string>;
  dir: string;
  exec(ns: string, cmd: string[], timeout?: number): string;
  spawn(ns: string, cmd: string[]): ChildProcess;
  destroy(): void;
}

export function makePair(o: { ipv6?: boolean } = {}): Pair {
  const id = `ha${process.pid % 100000}`;
  const ns = {
    lansw: `ipm-${id}-lansw`,
    wansw: `ipm-${id}-wansw`,
    lan: `ipm-${id}-lan`,
    wan: `ipm-${id}-wan`,
    gw1: `ipm-${id}-gw1`,
    gw2: `ipm-${id}-gw2`,
  };
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "ipmasq-ha-"));
  const destroy = (): void => {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch {
        /* gone */
      }
    }
    for (const n of Object.values(ns)) {
      try {
        sh(["ip", "netns", "pids", n])
          .split(/\s+/)
          .filter(Boolean)
          .forEach((p) => {
            try {
              process.kill(Number(p), "SIGKILL");
            } catch {
              /* gone */
            }
          });
      } catch {
        /* no ns */
      }
      try {
        sh(["ip", "netns", "del", n]);
      } catch {
        /* no ns */
      }
    }
  };
  destroy();
  const run = (...a: string[]): string => sh(a);
  const inNs = (n: string, ...a: string[]): string => sh(["ip", "netns", "exec", n, ...a]);
  try {
    for (const n of Object.values(ns)) {
      run("ip", "netns", "add", n);
      run("ip", "-n", n, "link", "set", "lo", "up");
      for (const k of ["all", "default"])
        inNs(n, "sysctl", "-qw", `net.ipv6.conf.${k}.${o.ipv6 ? "accept_dad=0" : "disable_ipv6=1"}`);
    }
    for (const sw of [ns.lansw, ns.wansw]) {
      run("ip", "-n", sw, "link", "add", "br0", "type", "bridge");
      run("ip", "-n", sw, "link", "set", "br0", "up");
    }
    // host side, switch side
    const plug = (host: string, dev: string, sw: string, port: string): void => {
      run("ip", "link", "add", dev, "netns", host, "type", "veth", "peer", "name", port, "netns", sw);
      run("ip", "-n", sw, "link", "set", port, "master", "br0");
      run("ip", "-n", sw, "link", "set", port, "up");
      run("ip", "-n", host, "link", "set", dev, "up");
    };
    plug(ns.lan, "lan0", ns.lansw, "p-lan");
    plug(ns.gw1, "eth1", ns.lansw, "p-gw1");
    plug(ns.gw2, "eth1", ns.lansw, "p-gw2");
    plug(ns.wan, "wan0", ns.wansw, "p-wan");
    plug(ns.gw1, "eth0", ns.wansw, "p-gw1");
    plug(ns.gw2, "eth0", ns.wansw, "p-gw2");
    run("ip", "link", "add", "sync0", "netns", ns.gw1, "type", "veth", "peer", "name", "sync0", "netns", ns.gw2);
    const v6 = [
      [ns.lan, "lan0", "2001:db8:1::10/64"],
      [ns.wan, "wan0", "2001:db8:ff::254/64"],
      [ns.gw1, "eth1", "2001:db8:1::2/64"],
      [ns.gw1, "eth0", "2001:db8:ff::11/64"],
      [ns.gw2, "eth1", "2001:db8:1::3/64"],
      [ns.gw2, "eth0", "2001:db8:ff::12/64"],
    ];
    for (const [n, dev, addr] of [
      [ns.lan, "lan0", "192.168.0.10/24"],
      [ns.wan, "wan0", "10.0.0.254/24"],
      [ns.gw1, "eth1", "192.168.0.2/24"],
      [ns.gw1, "eth0", "10.0.0.11/24"],
      [ns.gw1, "sync0", "10.9.0.1/29"],
      [ns.gw2, "eth1", "192.168.0.3/24"],
      [ns.gw2, "eth0", "10.0.0.12/24"],
      [ns.gw2, "sync0", "10.9.0.2/29"],
      ...(o.ipv6 ? v6 : []),
    ]) {
      run("ip", "-n", n, "addr", "add", addr, "dev", dev, ...(addr.includes(":") ? ["nodad"] : []));
    }
    for (const n of [ns.gw1, ns.gw2]) {
      run("ip", "-n", n, "link", "set", "sync0", "up");
      run("ip", "-n", n, "route", "add", "default", "via", "10.0.0.254");
    }
    run("ip", "-n", ns.lan, "route", "add", "default", "via", "192.168.0.1");
    if (o.ipv6) {
      for (const n of [ns.gw1, ns.gw2]) run("ip", "-n", n, "-6", "route", "add", "default", "via", "2001:db8:ff::254");
      run("ip", "-n", ns.lan, "-6", "route", "add", "default", "via", "2001:db8:1::1");
      run("ip", "-n", ns.wan, "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:ff::1");
    }
  } catch (e) {
    destroy();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    ns,
    dir,
    exec: (n, cmd, timeout = 60_000) => sh(["ip", "netns", "exec", n, ...cmd], timeout),
    spawn: (n, cmd) => {
      const c = spawn("ip", ["netns", "exec", n, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(c);
      return c;
    },
    destroy: () => {
      destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A process's output so far, and a wait for a line.
export function watch(p: ChildProcess): { text: () => string; until: (re: RegExp, ms?: number) => Promise<void> } {
  let out = "";
  p.stdout!.on("data", (d) => {
    out += d;
  });
  p.stderr!.on("data", (d) => {
    out += d;
  });
  return {
    text: () => out,
    until: async (re, ms = 20_000) => {
      await until(() => re.test(out), ms);
    },
  };
}

// The files both gateways of a pair run with: the shared sync key (mode 0600) and the seed's rules.
export function pairFiles(p: Pair): { key: string; config: string } {
  const key = join(p.dir, "sync.key");
  writeFileSync(key, "a shared secret of the pair, 32+ characters long\n", { mode: 0o600 });
  const config = join(p.dir, "ipmasq.conf");
  writeFileSync(config, "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n");
  return { key, config };
}
