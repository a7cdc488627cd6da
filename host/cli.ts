// The command line: `ipmasq run`, the commands that ask the running gateway (status, conns,
// ipchains, portfw, save, restart), and those that need none (check, install, uninstall, selftest).
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { runGateway, defaultStateDir, RunOptions } from "./gateway";
import { loadConfig } from "./config/config-file";
import { ConfigError } from "./policy/ipchains";
import { request } from "./control/client";
import { parseListen } from "./control/metrics";
import { install, uninstall } from "./install";
import { selftest } from "./selftest";
import { existsSync } from "node:fs";
import { controlSocketPath } from "./control/server";
import { DEFAULT_GRO_HOLD_US } from "./kernel/receive-offload";
import { SPOOF_CHECKS, SpoofCheck } from "./worker/reverse-path";
import { NATIVE_DIR_ENV } from "./tun/embedded-addon";
import { join } from "node:path";

const HELP = `ipmasq - IP masquerade gateway (a LAN shares one public IPv4 address)

usage:
  ipmasq run [options]        run the gateway in the foreground (this network namespace)
  ipmasq check FILE           validate a rule file; nothing is applied
  ipmasq status [--json]      summary of the running gateway
  ipmasq conns [--json]       the masqueraded connections
  ipmasq ipchains ARGS        change or list the running rules, as ipchains did:
                              -A -I -D -R -F -N -X -Z -P, -L [-n] [-v], -M -L, -M -S tcp tcpfin udp
  ipmasq portfw ARGS          ipmasqadm portfw: -a -P tcp|udp -L addr port -R addr port [-p pref], -d, -f, -l
  ipmasq save                 write the running rules back to the config file
  ipmasq restart              graceful restart: a new process takes over every connection (also SIGHUP)
  ipmasq install [--init systemd|sysv] [--root DIR]   start the gateway at boot
  ipmasq selftest [--count N]  core tests on this machine (golden vectors, WASM vs TS, koffi)
  ipmasq uninstall [--root DIR]

run options:
  --config FILE     rule file: ipchains lines as in rc.ipmasq (default /etc/ipmasq.conf)
  --core wasm|ts    packet core: WebAssembly (default) or plain TypeScript
  --workers N       worker threads, one TUN queue each (default: one per CPU)
  --max-conns N     connection table size (default 65536)
  --wan IF          WAN interface (default: the default route's)
  --lan IF          LAN interface (default: the one holding the MASQ -s network)
  --tun NAME        base TUN device name, at most 12 characters (default masq0); each
                    interface's packets come in through a device of its own, NAME-1, NAME-2, …
  --table N         routing table of the base TUN device; the others use N+1, N+2, … (default 4242)
  --spoof-check off|loose|strict
                    drop a new flow's packet whose source is not routed back through the
                    interface it came in on (strict, the default), or through any (loose)
  --ports MIN-MAX   NAT port range for ports >= 1024 (default 32768-60999, the usual client
                    ports, so that they are preserved when free; the gateway's own move above)
  --mss-clamp N     clamp the TCP MSS of SYNs to N (default off)
  --pcp on|off      NAT-PMP and PCP server on the LAN address, UDP 5351 (default off)
  --ftp-helper on|off  rewrite FTP PORT/EPRT/227/229 and expect the data connection (default on)
  --gro on|off      receive offload on the LAN and WAN interfaces: bursts of a flow reach the
                    gateway as one packet (default on; needs ethtool; undone on exit)
  --gro-hold US     hold a burst open up to US microseconds so that it can grow (default 50,
                    0 = flush at the end of each receive poll)
  --filtering address-dependent|endpoint-independent
                    who may send in to a mapped public port (default address-dependent)
  --state-dir DIR   journal and control socket (default /run/ipmasq)
  --metrics [ADDR:]PORT  Prometheus text at http://ADDR:PORT/metrics (off by default; ADDR 127.0.0.1)
`;

const DEFAULT_TUN = "masq0";

const OPTIONS = {
  config: { type: "string", default: "/etc/ipmasq.conf" },
  core: { type: "string", default: "wasm" },
  workers: { type: "string" },
  "max-conns": { type: "string", default: "65536" },
  wan: { type: "string" },
  lan: { type: "string" },
  tun: { type: "string", default: DEFAULT_TUN },
  table: { type: "string", default: "4242" },
  ports: { type: "string", default: "32768-60999" },
  filtering: { type: "string", default: "address-dependent" },
  "ftp-helper": { type: "string", default: "on" },
  pcp: { type: "string", default: "off" },
  gro: { type: "string", default: "on" },
  "gro-hold": { type: "string", default: String(DEFAULT_GRO_HOLD_US) },
  "mss-clamp": { type: "string", default: "0" },
  "spoof-check": { type: "string", default: "strict" },
  "state-dir": { type: "string" },
  json: { type: "boolean", default: false },
  metrics: { type: "string" },
  handover: { type: "string" },
  init: { type: "string" },
  root: { type: "string", default: "/" },
  count: { type: "string", default: "20000" },
  help: { type: "boolean", short: "h", default: false },
} as const;

class UsageError extends Error {}

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

// `ipmasq ipchains ...` / `ipmasq portfw ...`: the arguments are ipchains' own; only --json,
// --state-dir and --tun are ipmasq's.
async function live(kind: "ipchains" | "portfw", argv: string[]): Promise<number> {
  let json = false, stateDir = defaultStateDir(), tun = DEFAULT_TUN;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") json = true;
    else if (argv[i] === "--state-dir") stateDir = argv[++i];
    else if (argv[i] === "--tun") tun = argv[++i];
    else args.push(argv[i]);
  }
  process.env[NATIVE_DIR_ENV] = join(stateDir, "lib");
  try {
    const res = (await request(controlSocketPath(stateDir, tun), { cmd: kind, args })) as { text: string; json: unknown };
    process.stdout.write(json ? JSON.stringify(res.json, null, 1) + "\n" : res.text);
    return 0;
  } catch (e) {
    process.stderr.write(`ipmasq ${kind}: ${(e as Error).message}\n`);
    return 1;
  }
}

export async function main(argv: string[], workerFile: string): Promise<number> {
  if (argv[0] === "ipchains" || argv[0] === "portfw") return live(argv[0], argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`ipmasq: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const cmd = positionals[0];
  if (v.help || !cmd || cmd === "help") { process.stdout.write(HELP); return cmd || v.help ? 0 : 2; }
  const stateDir = v["state-dir"] ?? defaultStateDir();
  // native code is extracted to and loaded from a directory of ours under the state directory
  process.env[NATIVE_DIR_ENV] = join(stateDir, "lib");
  try {
    switch (cmd) {
      case "run": {
        if (v.core !== "wasm" && v.core !== "ts") throw new UsageError(`--core must be wasm or ts, got "${v.core}"`);
        if (v.filtering !== "address-dependent" && v.filtering !== "endpoint-independent") throw new UsageError(`--filtering must be address-dependent or endpoint-independent, got "${v.filtering}"`);
        if (v["ftp-helper"] !== "on" && v["ftp-helper"] !== "off") throw new UsageError(`--ftp-helper must be on or off, got "${v["ftp-helper"]}"`);
        if (v.gro !== "on" && v.gro !== "off") throw new UsageError(`--gro must be on or off, got "${v.gro}"`);
        if (v.pcp !== "on" && v.pcp !== "off") throw new UsageError(`--pcp must be on or off, got "${v.pcp}"`);
        if (!SPOOF_CHECKS.includes(v["spoof-check"] as SpoofCheck)) throw new UsageError(`--spoof-check must be off, loose or strict, got "${v["spoof-check"]}"`);
        if (!/^[A-Za-z0-9_.-]{1,12}$/.test(v.tun!)) throw new UsageError(`--tun must be 1 to 12 letters, digits, _ . or - (the devices of the interfaces add -N), got "${v.tun}"`);
        const ports = /^(\d+)-(\d+)$/.exec(v.ports ?? "");
        if (!ports) throw new UsageError(`--ports must be MIN-MAX, got "${v.ports}"`);
        const portMin = int("ports", ports[1], 1024, 65000), portMax = int("ports", ports[2], portMin, 65000);
        const o: RunOptions = {
          config: v.config!, core: v.core, workers: int("workers", v.workers ?? String(Math.min(cpus().length, 8)), 1, 64),
          maxConns: int("max-conns", v["max-conns"]!, 16, 4_000_000), wan: v.wan, lan: v.lan, tun: v.tun!,
          table: int("table", v.table!, 1, 2 ** 31 - 1), stateDir, portMin, portMax,
          mssClamp: int("mss-clamp", v["mss-clamp"]!, 0, 65535), workerFile, argv, handover: v.handover, metrics: v.metrics, filtering: v.filtering, ftpHelper: v["ftp-helper"] === "on", pcp: v.pcp === "on",
          groHoldUs: v.gro === "on" ? int("gro-hold", v["gro-hold"]!, 0, 10_000) : undefined,
          spoofCheck: v["spoof-check"] as SpoofCheck,
        };
        if (o.metrics) parseListen(o.metrics);
        return await runGateway(o);
      }
      case "check": {
        const file = positionals[1] ?? v.config!;
        const c = loadConfig(file);
        for (const w of c.warnings) process.stderr.write(`warning: ${w}\n`);
        const rules = Object.values(c.policy.chains).reduce((n, ch) => n + ch.rules.length, 0);
        process.stdout.write(`${file}: ok (${rules} rule${rules === 1 ? "" : "s"}, ${c.policy.portfw.length} port forward${c.policy.portfw.length === 1 ? "" : "s"}, forward policy ${c.policy.chains.forward.policy})\n`);
        return 0;
      }
      case "status": {
        const s = await request(controlSocketPath(stateDir, v.tun!), { cmd: "status" });
        process.stdout.write(v.json ? JSON.stringify(s, null, 1) + "\n" : formatStatus(s as Record<string, never>));
        return 0;
      }
      case "install": {
        const init = v.init ?? (existsSync("/run/systemd/system") ? "systemd" : "sysv");
        if (init !== "systemd" && init !== "sysv") throw new UsageError(`--init must be systemd or sysv, got "${init}"`);
        process.stdout.write(install({ root: v.root!, init, config: v.config!, bundle: workerFile }));
        return 0;
      }
      case "selftest":
        return selftest(int("count", v.count!, 1, 100_000_000));
      case "uninstall":
        process.stdout.write(uninstall(v.root!));
        return 0;
      case "conns": case "save": case "restart": {
        const res = (await request(controlSocketPath(stateDir, v.tun!), { cmd })) as { text: string; json: unknown };
        process.stdout.write(v.json ? JSON.stringify(res.json, null, 1) + "\n" : res.text);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`ipmasq: ${e.message}\n\n${HELP}`); return 2; }
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\nipmasq: nothing was applied\n`); return 1; }
    process.stderr.write(`ipmasq: ${(e as Error).message}\n`);
    return 1;
  }
}

function formatStatus(s: Record<string, never>): string {
  const w = s.workers as Array<Record<string, number>>;
  const sum = (k: string): number => w.reduce((n, x) => n + x[k], 0);
  const drops = Object.entries(s.drops as Record<string, number>).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
  return [
    `uptime ${s.uptimeSeconds}s, ${s.core} core, ${w.length} worker(s), TUN ${s.tun} (${(s.offloads as string[]).join(",")})`,
    s.waiting ? `WAN: waiting (${s.waiting})` : `WAN ${s.wan}, masquerading as ${s.publicAddress}`,
    `ingress: ${(s.devices as Array<{ iface: string; device: string }>).map((d) => `${d.iface} via ${d.device}`).join(", ")}`,
    `connections ${s.connections} of ${s.maxConns} (${((100 * s.connections) / s.maxConns).toFixed(1)}%), refused for a full table ${s.tableFullDrops}`,
    `packets out ${sum("packetsOut")} (${sum("bytesOut")} bytes), in ${sum("packetsIn")} (${sum("bytesIn")} bytes), slow path ${sum("slowPath")}, passed to the gateway ${sum("passed")}`,
    `drops: ${drops}`,
    ...w.map((x) => `  worker ${x.id}: out ${x.packetsOut} in ${x.packetsIn} batches ${x.batches}`),
  ].join("\n") + "\n";
}
