// The three-namespace topology of the tests, the demo and the benchmarks, made and removed by them:
//   lan (192.168.0.2, default via .1) -- gw (eth1 192.168.0.1 | eth0 10.0.0.1, default via 10.0.0.2) -- wan (10.0.0.2)
// With { ipv6: true } also dual stack (documentation prefixes, RFC 3849), the LAN's /64 routed to
// the gateway by the WAN router as an ISP routes a customer's prefix:
//   lan 2001:db8:1::2 (default via 2001:db8:1::1) -- gw (eth1 2001:db8:1::1 | eth0 2001:db8:ff::1)
//   -- wan 2001:db8:ff::2 (2001:db8:1::/64 via 2001:db8:ff::1); far 2001:db8:f0::2 behind wan
// Names carry a per-run suffix so that leftovers of a killed run never collide.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE, NODE } from "./ipmasq-cli";

export interface Topology {
  lan: string;
  gw: string;
  wan: string;
  far: string; // with { far: true }: a host behind the wan router (10.1.0.2), for traceroute and PMTU
  dir: string; // scratch folder for configs and files
  exec(ns: string, cmd: string[], opts?: { timeout?: number; input?: string }): string;
  spawn(ns: string, cmd: string[]): ChildProcess;
  destroy(): void;
}

const sh = (args: string[], timeout = 60_000, input?: string): string =>
  execFileSync(args[0], args.slice(1), {
    encoding: "utf8",
    timeout,
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });

// `scratch`: the prefix of the scratch folder's name (the demo's says it is the demo's).
export const LAN6 = "2001:db8:1::2";
export const GW_LAN6 = "2001:db8:1::1";
export const GW_WAN6 = "2001:db8:ff::1";
export const WAN6 = "2001:db8:ff::2";
export const FAR6 = "2001:db8:f0::2";

export function makeTopology(
  tag = "t",
  extra?: { far?: boolean; farMtu?: number; scratch?: string; ipv6?: boolean },
): Topology {
  const id = `${tag}${process.pid % 100000}`;
  const lan = `ipm-${id}-lan`,
    gw = `ipm-${id}-gw`,
    wan = `ipm-${id}-wan`,
    far = `ipm-${id}-far`;
  const children: ChildProcess[] = [];
  const destroy = (): void => {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch {
        /* gone */
      }
    }
    for (const ns of [lan, gw, wan, far]) {
      // kill whatever still runs inside, then remove the namespace
      try {
        sh(["ip", "netns", "pids", ns])
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
        sh(["ip", "netns", "del", ns]);
      } catch {
        /* no ns */
      }
    }
  };
  destroy();
  const run = (...a: string[]): string => sh(a);
  try {
    for (const ns of [lan, gw, wan]) {
      run("ip", "netns", "add", ns);
      run("ip", "-n", ns, "link", "set", "lo", "up");
      // IPv4 only unless asked: IPv6 link-local addresses appearing late would make kernel-state
      // snapshots race. With IPv6, no duplicate address detection: every address usable at once
      for (const k of ["all", "default"])
        run(
          "ip",
          "netns",
          "exec",
          ns,
          "sysctl",
          "-qw",
          `net.ipv6.conf.${k}.${extra?.ipv6 ? "accept_dad=0" : "disable_ipv6=1"}`,
        );
    }
    run("ip", "link", "add", "lan0", "netns", lan, "type", "veth", "peer", "name", "eth1", "netns", gw);
    run("ip", "link", "add", "wan0", "netns", wan, "type", "veth", "peer", "name", "eth0", "netns", gw);
    run("ip", "-n", lan, "addr", "add", "192.168.0.2/24", "dev", "lan0");
    run("ip", "-n", gw, "addr", "add", "192.168.0.1/24", "dev", "eth1");
    run("ip", "-n", gw, "addr", "add", "10.0.0.1/24", "dev", "eth0");
    run("ip", "-n", wan, "addr", "add", "10.0.0.2/24", "dev", "wan0");
    if (extra?.far) {
      // wan becomes a router to a farther network: 10.0.0.2 | 10.1.0.1 -- far 10.1.0.2
      run("ip", "netns", "add", far);
      run("ip", "-n", far, "link", "set", "lo", "up");
      run(
        "ip",
        "netns",
        "exec",
        far,
        "sysctl",
        "-qw",
        `net.ipv6.conf.all.${extra.ipv6 ? "accept_dad=0" : "disable_ipv6=1"}`,
      );
      run("ip", "link", "add", "far0", "netns", far, "type", "veth", "peer", "name", "wan1", "netns", wan);
      run("ip", "-n", wan, "addr", "add", "10.1.0.1/24", "dev", "wan1");
      run("ip", "-n", far, "addr", "add", "10.1.0.2/24", "dev", "far0");
      if (extra.farMtu)
        for (const [ns, dev] of [
          [wan, "wan1"],
          [far, "far0"],
        ])
          run("ip", "-n", ns, "link", "set", dev, "mtu", String(extra.farMtu));
      run("ip", "-n", wan, "link", "set", "wan1", "up");
      run("ip", "-n", far, "link", "set", "far0", "up");
      run("ip", "-n", far, "route", "add", "default", "via", "10.1.0.1");
      run("ip", "netns", "exec", wan, "sysctl", "-qw", "net.ipv4.ip_forward=1");
      if (extra.ipv6) {
        run("ip", "-n", wan, "addr", "add", "2001:db8:f0::1/64", "dev", "wan1", "nodad");
        run("ip", "-n", far, "addr", "add", `${FAR6}/64`, "dev", "far0", "nodad");
        run("ip", "-n", far, "-6", "route", "add", "default", "via", "2001:db8:f0::1");
        run("ip", "netns", "exec", wan, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
      }
    }
    if (extra?.ipv6) {
      run("ip", "-n", lan, "addr", "add", `${LAN6}/64`, "dev", "lan0", "nodad");
      run("ip", "-n", gw, "addr", "add", `${GW_LAN6}/64`, "dev", "eth1", "nodad");
      run("ip", "-n", gw, "addr", "add", `${GW_WAN6}/64`, "dev", "eth0", "nodad");
      run("ip", "-n", wan, "addr", "add", `${WAN6}/64`, "dev", "wan0", "nodad");
    }
    for (const [ns, dev] of [
      [lan, "lan0"],
      [gw, "eth1"],
      [gw, "eth0"],
      [wan, "wan0"],
    ])
      run("ip", "-n", ns, "link", "set", dev, "up");
    run("ip", "-n", lan, "route", "add", "default", "via", "192.168.0.1");
    run("ip", "-n", gw, "route", "add", "default", "via", "10.0.0.2");
    if (extra?.ipv6) {
      run("ip", "-n", lan, "-6", "route", "add", "default", "via", GW_LAN6);
      run("ip", "-n", gw, "-6", "route", "add", "default", "via", WAN6);
      run("ip", "-n", wan, "-6", "route", "add", "2001:db8:1::/64", "via", GW_WAN6);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  const dir = mkdtempSync(join(tmpdir(), extra?.scratch ?? "ipmasq-test-"));
  return {
    lan,
    gw,
    wan,
    far,
    dir,
    exec: (ns, cmd, opts) => sh(["ip", "netns", "exec", ns, ...cmd], opts?.timeout ?? 60_000, opts?.input),
    spawn: (ns, cmd) => {
      const c = spawn("ip", ["netns", "exec", ns, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(c);
      return c;
    },
    destroy: () => {
      destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const SEED_CONFIG = "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n";

export function writeConfig(t: Topology, text = SEED_CONFIG): string {
  const f = join(t.dir, "ipmasq.conf");
  writeFileSync(f, text);
  return f;
}

// The gateways started in a tap run: a test that fails shows the end of what each of them said
// (CI keeps only the TAP output, and "still not so after 10000 ms" alone cannot be diagnosed).
// Hooked at load, before any test starts (a test copies its parent's hooks when it begins), and
// only under tap (it sets TAP=1): the demo and the benchmarks use this file too.
const started: Array<{ proc: ChildProcess; log: () => string }> = [];
if (process.env.TAP) {
  const tap: typeof import("tap").t = require("tap").t;
  tap.afterEach((test) => {
    const failed = !test.passing();
    for (const g of [...started]) {
      const said = g.log().split("\n").slice(-60).join("\n");
      if (failed) test.comment(`ipmasq in "${test.name}" said (its last 60 lines):\n${said}`);
      if (failed || g.proc.exitCode !== null || g.proc.signalCode !== null) started.splice(started.indexOf(g), 1);
    }
  });
}

// Starts dist/ipmasq.js run in gw and waits for "ready". Returns the process and its log.
// `nodeArgs`: options for node itself (--trace-gc); `prefix`: a command that execs node (setpriv);
// `bundle`: another build (a benchmark's --before).
export async function startGateway(
  t: Topology,
  args: string[],
  stateDir: string,
  nodeArgs: string[] = [],
  prefix: string[] = [],
  bundle = BUNDLE,
): Promise<{ proc: ChildProcess; log: () => string }> {
  const proc = t.spawn(t.gw, [...prefix, NODE, ...nodeArgs, bundle, "run", "--state-dir", stateDir, ...args]);
  let out = "";
  started.push({ proc, log: () => out });
  proc.stdout!.on("data", (d) => {
    out += d;
  });
  proc.stderr!.on("data", (d) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 20_000);
    const check = (): void => {
      if (out.includes("ready\n")) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on("data", check);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}):\n${out}`));
    });
  });
  return { proc, log: () => out };
}

export function waitExit(proc: ChildProcess, ms = 15_000): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway did not exit")), ms);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

// Resolves when a peer started in a namespace prints "listening".
export function waitListening(p: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`peer did not start: ${out}`)), 10_000);
    p.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.stderr!.on("data", (d) => {
      out += d;
    });
  });
}

// How a command ended: its exit code (0 when it succeeded) and what it printed. A check that
// something is NOT reachable asserts the code and the reason, so that a missing tool, a crashed
// peer or the wrong failure is not taken for the expected one.
export function outcome(run: () => string): { code: number; out: string } {
  try {
    return { code: 0, out: run() };
  } catch (e) {
    const x = e as { status?: number | null; stdout?: string; stderr?: string; message: string };
    return { code: x.status ?? -1, out: `${x.stdout ?? ""}${x.stderr ?? ""}` || x.message };
  }
}

// Runs scapy code in a namespace (Debian's python3-scapy, seen only by /usr/bin/python3), for
// packets no ordinary program sends: forged sources, martians, incomplete fragments.
export function scapy(t: Topology, ns: string, code: string): string {
  return t.exec(
    ns,
    [
      "/usr/bin/python3",
      "-c",
      `import logging; logging.getLogger("scapy.runtime").setLevel(logging.ERROR)\nfrom scapy.all import *\n${code}`,
    ],
    { timeout: 60_000 },
  );
}

// A namespace's IP, ICMP, TCP and UDP counters (/proc/net/snmp, and /proc/net/snmp6 by their own
// names: "Udp6InDatagrams"), as "Udp.InDatagrams" -> n: the
// receiving side's own word that something did or did not arrive.
export function snmp(t: Topology, ns: string): Record<string, number> {
  const lines = t.exec(ns, ["cat", "/proc/net/snmp"]).trim().split("\n");
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const keys = lines[i].split(/\s+/),
      values = lines[i + 1].split(/\s+/);
    const proto = keys[0].replace(":", "");
    for (let k = 1; k < keys.length; k++) out[`${proto}.${keys[k]}`] = Number(values[k]);
  }
  // IPv6's (a name and a value a line: "Icmp6InEchos 3"), when the namespace has IPv6
  const v6 = t.exec(ns, ["sh", "-c", "cat /proc/net/snmp6 2>/dev/null; true"]);
  for (const [name, value] of v6.split("\n").map((l) => l.split(/\s+/))) if (name) out[name] = Number(value);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Milliseconds until `ok()` holds (polled every 50 ms); throws after `ms`. The way to wait for a
// condition (a port listening, a log line, a counter), never a fixed sleep.
export async function until(ok: () => boolean, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`still not so after ${ms} ms`);
    await sleep(50);
  }
  return Date.now() - t0;
}
