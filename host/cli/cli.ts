// The command line: `ipmasq run`, the commands that ask the running gateway (status, conns,
// ipchains, portfw, save, restart), and those that need none (check, install, uninstall, selftest).
// Every command's options and usage come from the two tables below, and so does its help: the
// help cannot say what the parser does not take. Exit status: 0 done, 1 failed, 2 usage error,
// 3 (status) no gateway is running, as LSB init scripts have it.
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json";
export { OPTIONS, COMMANDS } from "./cli-spec";
import { runGateway, defaultStateDir, type RunOptions } from "../gateway/gateway";
import { parseConfig, readRuleText } from "../config/config-file";
import { ConfigError } from "../policy/ipchains";
import { lintPolicy } from "../policy/lint";
import { listInterfaces, type Iface } from "../kernel/interfaces";
import { ipv6Enabled } from "../kernel/wiring";
import { type Npt6, parseNpt6 } from "../net/npt6";
import { request, follow, NotRunning } from "../control/client";
import { HOST_SORTS, type HostRow } from "../observe/host-accounting";
import { formatColumns, formatFlows, type FlowJson } from "../table/listing";
import { type EventJson, eventText } from "../observe/event-format";
import { searchLog } from "../observe/event-search";
import { parseListen } from "../observe/metrics";
import { install, uninstall } from "./install";
import { controlSocketPath } from "../control/server";
import type { GatewayStatus, HaStatus, WorkerStatus } from "../observe/status";
import type { HoldStatus } from "../kernel/receive-hold";
import { OPTIONS, COMMANDS, DEFAULT_TUN } from "./cli-spec";
import { PAGES, type PageName, showPage } from "./manual";
import { SPOOF_CHECKS } from "../worker/reverse-path";
import { NATIVE_DIR_ENV } from "../tun/embedded-addon";
import { parseAddr } from "../net/addr";
import { DEFAULT_SYNC_PORT } from "../sync/table-sync";
import { parseMapRule, mapCalc, formatMapResult, mapResultJson, type MapResult } from "../net/map-e";
import { parsePrefix6, parseAddr6, formatAddr6, isAddr6 } from "../net/addr6";

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_RUNNING = 3;

class UsageError extends Error {}

const version = (): string =>
  `ipmasq ${pkg.version} (WebAssembly core, TypeScript twin; node ${process.version}, ${process.platform}-${process.arch})`;

// Control characters and other bytes a terminal would act on, shown as \xNN.
export const printable = (s: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

function globalHelp(): string {
  const width = Math.max(...Object.entries(COMMANDS).map(([n, c]) => `${n} ${c.args}`.length));
  return `ipmasq - IP masquerade gateway (a LAN shares one public IPv4 address)

usage: ipmasq COMMAND [options]      ipmasq COMMAND --help      ipmasq --version
       ipmasq help manual | conf       the manual pages, ipmasq(8) and ipmasq.conf(5)

${Object.entries(COMMANDS)
  .map(([n, c]) => `  ${`${n} ${c.args}`.padEnd(width)}  ${c.summary}`)
  .join("\n")}

The gateway's options (--workers, --max-conns, --ports, --web, ...): ipmasq run --help
`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  const opts = [...c.options.filter((o) => !OPTIONS[o].hidden), "help"];
  const label = (o: string): string =>
    `${OPTIONS[o].short ? `-${OPTIONS[o].short}, ` : ""}--${o}${OPTIONS[o].arg ? ` ${OPTIONS[o].arg}` : ""}`;
  const width = Math.min(28, Math.max(...opts.map((o) => label(o).length)));
  const lines = opts.map((o) => {
    const l = label(o),
      text = `${OPTIONS[o].help}${OPTIONS[o].default !== undefined && OPTIONS[o].type === "string" ? ` (default ${OPTIONS[o].default})` : ""}`;
    return l.length > width ? `  ${l}\n  ${"".padEnd(width)}  ${text}` : `  ${l.padEnd(width)}  ${text}`;
  });
  return `usage: ipmasq ${name} ${c.args}\n${c.summary}\n\noptions:\n${lines.join("\n")}\n`;
}

const usageLine = (name: string): string => `usage: ipmasq ${name} ${COMMANDS[name].args}   (ipmasq ${name} --help)`;

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(
      `--${name} must be ${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}, got "${v}"`,
    );
  return v as T;
}

// An IPv6 address option, as the kernel writes it (RFC 5952), or a usage error.
function addr6(name: string, v: string): string {
  if (!isAddr6(v)) throw new UsageError(`--${name} must be an IPv6 address, got "${v}"`);
  return formatAddr6(parseAddr6(v));
}

// --npt6: absent is none; a bad mapping says which and why.
function npt6(v: string | undefined): Npt6[] {
  if (v === undefined) return [];
  try {
    return parseNpt6(v);
  } catch (e) {
    throw new UsageError(`--npt6: ${(e as Error).message}`);
  }
}

type Values = Record<string, string | boolean | undefined>;

// The command's options and arguments, by its table; usage errors say what is wrong.
function parse(name: string, argv: string[]): { v: Values; positionals: string[] } {
  const spec = COMMANDS[name];
  const options = Object.fromEntries(
    [...spec.options, "help"].map((o) => [
      o,
      { type: OPTIONS[o].type, ...(OPTIONS[o].short ? { short: OPTIONS[o].short } : {}) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: options as NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const m = /Unknown option '([^']+)'/.exec((e as Error).message);
    const missing = /Option '([^']+)'.* argument missing/.exec((e as Error).message);
    throw new UsageError(
      m
        ? `unknown option ${m[1]}`
        : missing
          ? `${missing[1].replace(/^-\w, /, "").replace(/ <value>$/, "")} needs a value`
          : (e as Error).message.split("\n")[0],
    );
  }
  const v: Values = { ...(parsed.values as Values) };
  for (const o of spec.options) if (v[o] === undefined && OPTIONS[o].default !== undefined) v[o] = OPTIONS[o].default;
  const [min, max] = spec.positionals;
  if (!v.help && parsed.positionals.length > max)
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
  if (!v.help && parsed.positionals.length < min) throw new UsageError("an argument is missing");
  return { v, positionals: parsed.positionals };
}

// The state directory, and native code loaded only from under it (host/tun/embedded-addon.ts).
function stateDirOf(v: Values): string {
  const dir = (v["state-dir"] as string | undefined) ?? defaultStateDir();
  process.env[NATIVE_DIR_ENV] = join(dir, "lib");
  return dir;
}

function runOptions(v: Values, stateDir: string, argv: string[], workerFile: string): RunOptions {
  const s = (o: string): string => v[o] as string;
  if (!/^[A-Za-z0-9_.-]{1,12}$/.test(s("tun")))
    throw new UsageError(
      `--tun must be 1 to 12 letters, digits, _ . or - (the devices of the interfaces add -N), got "${s("tun")}"`,
    );
  const ports = /^(\d+)-(\d+)$/.exec(s("ports"));
  if (!ports) throw new UsageError(`--ports must be MIN-MAX, got "${s("ports")}"`);
  const portMin = int("ports", ports[1], 1024, 65000),
    portMax = int("ports", ports[2], portMin, 65000);
  for (const o of ["metrics", "web"])
    if (v[o]) {
      try {
        parseListen(s(o), `--${o}`);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
  if (v["web-token"] && !v.web) throw new UsageError("--web-token goes with --web");
  const addr = (o: string, text: string): number => {
    try {
      return parseAddr(text);
    } catch {
      throw new UsageError(`--${o} wants an IPv4 address, got "${text}"`);
    }
  };
  if ((v["sync-key"] || v["sync-dev"]) && !v["sync-peer"])
    throw new UsageError("--sync-key and --sync-dev go with --sync-peer");
  if (v["sync-peer"] && !v["sync-key"])
    throw new UsageError("--sync-peer needs --sync-key FILE: the table sync is authenticated");
  const peer = v["sync-peer"] ? /^([^:]+)(?::(\d+))?$/.exec(s("sync-peer")) : undefined;
  if (v["sync-peer"] && !peer) throw new UsageError(`--sync-peer wants ADDR[:PORT], got "${s("sync-peer")}"`);
  const onOff = (o: string): boolean => oneOf(o, s(o), ["on", "off"] as const) === "on";
  return {
    config: s("config"),
    core: oneOf("core", s("core"), ["wasm", "ts"] as const),
    workers: int("workers", (v.workers as string | undefined) ?? String(Math.min(cpus().length, 8)), 1, 64),
    maxConns: int("max-conns", s("max-conns"), 16, 4_000_000),
    wan: v.wan as string | undefined,
    lan: v.lan as string | undefined,
    tun: s("tun"),
    table: int("table", s("table"), 1, 2 ** 31 - 1),
    stateDir,
    portMin,
    portMax,
    mssClamp: int("mss-clamp", s("mss-clamp"), 0, 65535),
    workerFile,
    argv,
    handover: v.handover as string | undefined,
    metrics: v.metrics as string | undefined,
    filtering: oneOf("filtering", s("filtering"), ["address-dependent", "endpoint-independent"] as const),
    npt6: npt6(v.npt6 as string | undefined),
    ftpHelper: onOff("ftp-helper"),
    pcp: onOff("pcp"),
    upnp: onOff("upnp"),
    groHoldUs: onOff("gro") ? int("gro-hold", s("gro-hold"), 0, 10_000) : undefined,
    groBusyPps: int("gro-busy", s("gro-busy"), 0, 100_000_000),
    busyPollUs: int("busy-poll", s("busy-poll"), 0, 1_000_000),
    pin: onOff("pin"),
    spoofCheck: oneOf("spoof-check", s("spoof-check"), SPOOF_CHECKS),
    maxConnsPerHost: int("max-conns-per-host", s("max-conns-per-host"), 0, 4_000_000),
    logEvents: v["log-events"] as string | undefined,
    logEventsRate: int("log-events-rate", s("log-events-rate"), 1, 1_000_000),
    web: v.web as string | undefined,
    webToken: v["web-token"] as string | undefined,
    publicAddr: v.public ? addr("public", s("public")) : undefined,
    publicAddr6: v.public6 ? addr6("public6", s("public6")) : undefined,
    sync: peer
      ? {
          peer: addr("sync-peer", peer[1]),
          port: peer[2] ? int("sync-peer", peer[2], 1, 65535) : DEFAULT_SYNC_PORT,
          keyFile: s("sync-key"),
          dev: v["sync-dev"] as string | undefined,
        }
      : undefined,
  };
}

// `check`: the file parsed exactly as `run` parses it, plus warnings for what is legal but
// probably wrong. An error shows the line with a caret under its column.
function check(file: string, json: boolean): number {
  const { name, text } = readRuleText(file);
  try {
    const c = parseConfig(name, text);
    let here: Iface[] | undefined;
    try {
      here = listInterfaces();
    } catch {
      /* no iproute2 here: the interface check is skipped */
    }
    const warnings = [...c.warnings, ...lintPolicy(c.policy, here, here !== undefined && ipv6Enabled())];
    const rules = Object.values(c.policy.chains).reduce((n, ch) => n + ch.rules.length, 0);
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ file: name, ok: true, rules, portForwards: c.policy.portfw.length, forwardPolicy: c.policy.chains.forward.policy, warnings }, null, 1)}\n`,
      );
    } else {
      for (const w of warnings) process.stderr.write(`warning: ${printable(w)}\n`);
      process.stdout.write(
        `${printable(name)}: ok (${rules} rule${rules === 1 ? "" : "s"}, ${c.policy.portfw.length} port forward${c.policy.portfw.length === 1 ? "" : "s"}, forward policy ${c.policy.chains.forward.policy})\n`,
      );
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ file: name, ok: false, error: { line: e.line, column: e.column, reason: e.reason } }, null, 1)}\n`,
      );
      return EXIT_FAILED;
    }
    const line = text.split("\n")[e.line - 1] ?? "";
    process.stderr.write(
      `${printable(e.message)}\n  ${printable(line)}\n  ${" ".repeat(printable(line.slice(0, e.column - 1)).length)}^\nipmasq: nothing was applied\n`,
    );
    return EXIT_FAILED;
  }
}

// `ipmasq ipchains …` / `ipmasq portfw …`: the arguments are ipchains' own; only --json,
// --state-dir and --tun are ipmasq's.
async function live(kind: "ipchains" | "portfw", argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) {
    process.stdout.write(commandHelp(kind));
    return 0;
  }
  const v: Values = { tun: DEFAULT_TUN, json: false };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") v.json = true;
    else if (argv[i] === "--state-dir" || argv[i] === "--tun") {
      if (argv[i + 1] === undefined) throw new UsageError(`${argv[i]} needs a value`);
      v[argv[i].slice(2)] = argv[++i];
    } else args.push(argv[i]);
  }
  const res = (await request(controlSocketPath(stateDirOf(v), v.tun as string), { cmd: kind, args })) as {
    text: string;
    json: unknown;
  };
  process.stdout.write(v.json ? `${JSON.stringify(res.json, null, 1)}\n` : res.text);
  return 0;
}

async function command(name: string, argv: string[], workerFile: string): Promise<number> {
  if (name === "ipchains" || name === "portfw") return live(name, argv);
  const { v, positionals } = parse(name, argv);
  if (v.help) {
    process.stdout.write(commandHelp(name));
    return 0;
  }
  switch (name) {
    case "run": {
      const dir = stateDirOf(v);
      return runGateway(runOptions(v, dir, [name, ...argv], workerFile));
    }
    case "check":
      return check(positionals[0] ?? (v.config as string), v.json === true);
    case "map-e":
      return mapE(positionals[0], v.prefix as string | undefined, v.json === true);
    case "status": {
      const path = controlSocketPath(stateDirOf(v), v.tun as string);
      let s: unknown;
      try {
        s = await request(path, { cmd: "status" });
      } catch (e) {
        // a script that asked for JSON gets JSON, also when no gateway runs (exit 3 all the same)
        if (!(e instanceof NotRunning) || !v.json) throw e;
        process.stdout.write(`${JSON.stringify({ running: false, error: e.message }, null, 1)}\n`);
        return EXIT_NOT_RUNNING;
      }
      process.stdout.write(v.json ? `${JSON.stringify(s, null, 1)}\n` : formatStatus(s as GatewayStatus));
      return 0;
    }
    case "conns": {
      // a row a line, as the gateway walks its table (a million rows are never one message)
      const rows: FlowJson[] = [];
      await follow(controlSocketPath(stateDirOf(v), v.tun as string), { cmd: "conns" }, (r) =>
        rows.push(r as FlowJson),
      );
      process.stdout.write(v.json ? `${JSON.stringify(rows, null, 1)}\n` : `${formatFlows(rows)}\n`);
      return 0;
    }
    case "save":
    case "restart":
    case "set":
    case "flush":
    case "role": {
      const res = (await request(controlSocketPath(stateDirOf(v), v.tun as string), {
        cmd: name,
        args: positionals,
      })) as { text: string; json: unknown };
      process.stdout.write(v.json ? `${JSON.stringify(res.json, null, 1)}\n` : res.text);
      return 0;
    }
    case "hosts": {
      const sort = oneOf("sort", v.sort as string, HOST_SORTS);
      const rows = (await request(controlSocketPath(stateDirOf(v), v.tun as string), {
        cmd: "hosts",
        args: { sort },
      })) as HostRow[];
      process.stdout.write(v.json ? `${JSON.stringify(rows, null, 1)}\n` : formatHosts(rows));
      return 0;
    }
    case "events":
      return events(v);
    case "install": {
      const init = oneOf(
        "init",
        (v.init as string | undefined) ?? (existsSync("/run/systemd/system") ? "systemd" : "sysv"),
        ["systemd", "sysv"] as const,
      );
      process.stdout.write(install({ root: v.root as string, init, config: v.config as string, bundle: workerFile }));
      return 0;
    }
    case "uninstall":
      process.stdout.write(uninstall(v.root as string));
      return 0;
    case "selftest": {
      stateDirOf(v);
      // loaded only here: its test vectors would otherwise sit in every gateway's memory
      const { selftest } = require("./selftest") as typeof import("./selftest");
      return selftest(int("count", v.count as string, 1, 100_000_000));
    }
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

export async function main(argv: string[], workerFile: string): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V" || first === "version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === undefined) {
    process.stderr.write(globalHelp());
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    if (rest[0] && COMMANDS[rest[0]]) {
      process.stdout.write(commandHelp(rest[0]));
      return 0;
    }
    if (rest[0] && rest[0] in PAGES) return showPage(rest[0] as PageName);
    if (rest[0]) {
      process.stderr.write(`ipmasq: unknown command "${printable(rest[0])}"\n`);
      return EXIT_USAGE;
    }
    process.stdout.write(globalHelp());
    return 0;
  }
  if (!COMMANDS[first]) {
    process.stderr.write(
      `ipmasq: ${first.startsWith("-") ? `unknown option ${printable(first)}` : `unknown command "${printable(first)}"`}\nusage: ipmasq COMMAND [options]   (ipmasq --help lists the commands)\n`,
    );
    return EXIT_USAGE;
  }
  try {
    return await command(first, rest, workerFile);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ipmasq ${first}: ${printable(e.message)}\n${usageLine(first)}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`${printable(e.message)}\nipmasq: nothing was applied\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`ipmasq ${first}: ${printable((e as Error).message)}\n`);
    return e instanceof NotRunning && first === "status" ? EXIT_NOT_RUNNING : EXIT_FAILED;
  }
}

// `ipmasq events`: follow the gateway's events, or search a log for a public port at a time.
async function events(v: Values): Promise<number> {
  if (v["search-log"] !== undefined) {
    if (v["public-port"] === undefined || v.at === undefined)
      throw new UsageError("--search-log needs --public-port P and --at TIME");
    const port = int("public-port", v["public-port"] as string, 1, 65535);
    const at = Date.parse(v.at as string);
    if (Number.isNaN(at)) throw new UsageError(`--at must be a time such as 2026-11-25T21:40:00Z, got "${v.at}"`);
    const found = await searchLog(v["search-log"] as string, port, at);
    if (v.json) process.stdout.write(`${JSON.stringify(found, null, 1)}\n`);
    else if (found.length === 0)
      process.stdout.write(
        `nobody had public port ${port} at ${new Date(at).toISOString()} in ${printable(v["search-log"] as string)}\n`,
      );
    else
      for (const h of found)
        process.stdout.write(
          `${h.lan} had public ${h.public} (${h.proto} to ${h.remote}) from ${h.from} until ${h.until || "the end of the log"}${h.why ? ` (${h.why})` : ""}\n`,
        );
    return found.length ? 0 : EXIT_FAILED;
  }
  if (v["public-port"] !== undefined || v.at !== undefined)
    throw new UsageError("--public-port and --at go with --search-log");
  await follow(controlSocketPath(stateDirOf(v), v.tun as string), { cmd: "events" }, (line) => {
    const e = line as EventJson & { dropped?: number; following?: string };
    if (e.following) process.stderr.write("ipmasq: following connection events (Ctrl-C stops)\n");
    else if (e.dropped !== undefined)
      process.stdout.write(
        v.json
          ? `${JSON.stringify({ dropped: e.dropped })}\n`
          : `(${e.dropped} events dropped: this reader was too slow)\n`,
      );
    else process.stdout.write(`${v.json ? JSON.stringify(e) : eventText(e)}\n`);
  });
  return 0;
}

// `ipmasq map-e RULE --prefix P`: a MAP-E CE's values (RFC 7597), computed here, nothing applied.
function mapE(ruleText: string, prefix: string | undefined, json: boolean): number {
  if (!prefix) throw new UsageError("map-e needs --prefix END_USER_PREFIX (the delegated prefix, or the WAN's /64)");
  let r: MapResult;
  try {
    if (!prefix.includes("/")) throw new Error(`--prefix ${prefix} needs its length`);
    r = mapCalc(parseMapRule(ruleText), parsePrefix6(prefix));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  process.stdout.write(json ? `${JSON.stringify(mapResultJson(r), null, 1)}\n` : `${formatMapResult(r)}\n`);
  return 0;
}

function formatHosts(rows: HostRow[]): string {
  return `${formatColumns(
    ["host", "rate out", "rate in", "bytes out", "bytes in", "pkts out", "pkts in", "flows", "since start"],
    rows.map((r) => [
      r.host,
      `${r.rateOut}B/s`,
      `${r.rateIn}B/s`,
      String(r.bytesOut),
      String(r.bytesIn),
      String(r.packetsOut),
      String(r.packetsIn),
      String(r.flows),
      String(r.flowsTotal),
    ]),
  )}\n`;
}

function haLine(h: HaStatus): string {
  const c = h.counts as Record<string, number> & { refused: Record<string, number> };
  const refused =
    Object.entries(c.refused)
      .filter(([, n]) => n)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  return (
    `HA: ${h.role}, peer ${h.peer} ${h.lastHeardMs < 0 ? "never heard" : `(${h.peerRole}, heard ${h.lastHeardMs} ms ago, lag ${h.lagMs} ms)`}; ` +
    `sent ${c.sentRecords} updates in ${c.sentDatagrams} datagrams (${c.sentBytes} bytes), received ${c.receivedRecords} in ${c.receivedDatagrams}; ` +
    `full tables sent ${c.fullSent}, received ${c.fullReceived}; refused ${refused}; dropped as backup ${h.standbyDrops}`
  );
}

// Which interfaces hold bursts open now (busy), and since start how often each switched.
function holdLine(holds: HoldStatus[]): string[] {
  if (!holds.length) return [];
  return [
    `receive hold: ${holds.map((h) => `${h.iface} ${h.holding ? "holding" : "off"} (${h.pps} packets/s, switched ${h.switches} times)`).join(", ")}`,
  ];
}

function formatStatus(s: GatewayStatus): string {
  const w = s.workers;
  const sum = (k: keyof WorkerStatus): number => w.reduce((n, x) => n + x[k], 0);
  const drops =
    Object.entries(s.drops)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none";
  return `${[
    `uptime ${s.uptimeSeconds}s, ${s.core} core, ${w.length} worker(s), TUN ${s.tun} (${s.offloads.join(",")})`,
    s.waiting ? `WAN: waiting (${s.waiting})` : `WAN ${s.wan}, masquerading as ${s.publicAddress}`,
    `ingress: ${s.devices.map((d) => `${d.iface} via ${d.device}`).join(", ")}`,
    s.ipv6Missing
      ? `IPv6: ${s.ipv6Missing}`
      : `IPv6 prefixes: ${s.prefixes6.map((p) => `${p.iface} ${p.prefix}`).join(", ") || "none (IPv6 is off)"}`,
    ...holdLine(s.receiveHolds),
    `connections ${s.connections} of ${s.maxConns} (${((100 * s.connections) / s.maxConns).toFixed(1)}%), refused for a full table ${s.tableFullDrops}`,
    `IPv6 flows ${s.flows6} of ${s.maxFlows6} (routed), refused for a full table ${s.table6FullDrops}`,
    `LAN hosts seen ${s.hostsSeen}, connections per host ${s.maxConnsPerHost || "unlimited"}${s.maxConnsPerHost ? `, refused over it ${s.hostLimitDrops}` : ""}`,
    `packets out ${sum("packetsOut")} (${sum("bytesOut")} bytes), in ${sum("packetsIn")} (${sum("bytesIn")} bytes), slow path ${sum("slowPath")}, passed to the gateway ${sum("passed")}`,
    `drops: ${drops}`,
    ...(s.ha ? [haLine(s.ha)] : []),
    ...w.map(
      (x) =>
        `  worker ${x.id} (TUN queue ${x.id}): out ${x.packetsOut} in ${x.packetsIn}, ${x.reads} reads in ${x.batches} batches${x.reads ? `, ${Math.round(x.readBytes / x.reads)} bytes per read` : ""}`,
    ),
  ].join("\n")}\n`;
}
