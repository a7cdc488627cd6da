// What the command line takes: every option with its help, and every command with the options it
// accepts. host/cli/cli.ts parses and prints help from these tables, and `ipmasq install` makes the
// bash completion from them, so none of the three can say what the others do not.
import { DEFAULT_GRO_HOLD_US, DEFAULT_GRO_BUSY_PPS } from "../kernel/receive-offload";

export const DEFAULT_TUN = "masq0";

export interface OptionSpec {
  type: "string" | "boolean";
  arg?: string;
  default?: string;
  help: string;
  short?: string;
  hidden?: boolean;
}

export const OPTIONS: Record<string, OptionSpec> = {
  config: {
    type: "string",
    arg: "FILE",
    default: "/etc/ipmasq.conf",
    help: "rule file: ipchains lines as in rc.ipmasq",
  },
  core: {
    type: "string",
    arg: "wasm|ts",
    default: "wasm",
    help: "packet core: WebAssembly, or the plain TypeScript twin",
  },
  workers: { type: "string", arg: "N", help: "worker threads, one TUN queue each (default: one per CPU, at most 8)" },
  "max-conns": { type: "string", arg: "N", default: "65536", help: "connection table size" },
  wan: { type: "string", arg: "IF", help: "WAN interface (default: the default route's, followed as it moves)" },
  lan: { type: "string", arg: "IF", help: "LAN interface (default: those holding a MASQ -s network)" },
  tun: {
    type: "string",
    arg: "NAME",
    default: DEFAULT_TUN,
    help: "base TUN device, at most 12 characters; each interface's packets come in through NAME-1, NAME-2, …",
  },
  table: {
    type: "string",
    arg: "N",
    default: "4242",
    help: "routing table of the base TUN device; the others use N+1, N+2, …",
  },
  ports: {
    type: "string",
    arg: "MIN-MAX",
    default: "32768-60999",
    help: "NAT port range for ports >= 1024 (the usual client ports, preserved when free; the gateway's own move outside it)",
  },
  "mss-clamp": { type: "string", arg: "N", default: "0", help: "clamp the TCP MSS of SYNs to N (0: off)" },
  pcp: {
    type: "string",
    arg: "on|off",
    default: "off",
    help: "NAT-PMP and PCP server on the LAN interfaces, UDP 5351",
  },
  upnp: {
    type: "string",
    arg: "on|off",
    default: "off",
    help: "UPnP IGD on the LAN interfaces: SSDP (UDP 1900) and HTTP control; mappings shared with NAT-PMP/PCP",
  },
  "ftp-helper": {
    type: "string",
    arg: "on|off",
    default: "on",
    help: "rewrite FTP PORT/EPRT/227/229 and expect the data connection",
  },
  gro: {
    type: "string",
    arg: "on|off",
    default: "on",
    help: "receive offload on the LAN and WAN interfaces (needs ethtool; undone on exit)",
  },
  "gro-hold": {
    type: "string",
    arg: "US",
    default: String(DEFAULT_GRO_HOLD_US),
    help: "on a busy interface, hold a burst open up to US microseconds so that it can grow (0: flush at the end of each receive poll)",
  },
  "gro-busy": {
    type: "string",
    arg: "PPS",
    default: String(DEFAULT_GRO_BUSY_PPS),
    help: "an interface is busy from PPS received packets a second (until half that); a quiet one holds nothing, so nothing waits (0: always busy)",
  },
  pin: {
    type: "string",
    arg: "on|off",
    default: "off",
    help: "worker N runs on CPU N only (one stream went 10-16 % faster on a 2-core machine; a pinned worker cannot move off a busy CPU)",
  },
  "busy-poll": {
    type: "string",
    arg: "US",
    default: "0",
    help: "after traffic, a worker keeps polling up to US microseconds before it sleeps (lower latency for a little CPU; 0: off)",
  },
  filtering: {
    type: "string",
    arg: "address-dependent|endpoint-independent",
    default: "address-dependent",
    help: "who may send in to a mapped public port (IPv6: to a LAN address:port with a flow)",
  },
  npt6: {
    type: "string",
    arg: "INSIDE/LEN=OUTSIDE/LEN[,...]",
    help: "translate an inside IPv6 prefix to an outside one and back (NPTv6, RFC 6296: stateless, no port or checksum changed; /1 to /64, up to 4)",
  },
  "spoof-check": {
    type: "string",
    arg: "off|loose|strict",
    default: "strict",
    help: "drop a new flow's packet whose source is not routed back through the interface it came in on (strict), or through any (loose)",
  },
  "state-dir": {
    type: "string",
    arg: "DIR",
    help: "journal, lock, control socket and native code (default /run/ipmasq)",
  },
  metrics: {
    type: "string",
    arg: "[ADDR:]PORT",
    help: "Prometheus text at http://ADDR:PORT/metrics (ADDR 127.0.0.1 unless given; off by default)",
  },
  "max-conns-per-host": {
    type: "string",
    arg: "N",
    default: "0",
    help: "connections one LAN host may have (0: no limit); more get ICMP administratively prohibited (live: ipmasq set)",
  },
  "log-events": {
    type: "string",
    arg: "FILE|syslog[:SOCKET]",
    help: "write every connection event (NEW, DESTROY, UPDATE) as an RFC 5424 line to FILE or to syslog",
  },
  "log-events-rate": {
    type: "string",
    arg: "N",
    default: "1000",
    help: "at most N event lines a second (more are counted as dropped)",
  },
  web: {
    type: "string",
    arg: "[ADDR:]PORT",
    help: "live status page at http://ADDR:PORT/ (ADDR 127.0.0.1 unless given; a LAN address needs --web-token; off by default)",
  },
  "web-token": { type: "string", arg: "FILE", help: "the status page asks for the token in FILE (ours, mode 0600)" },
  public: {
    type: "string",
    arg: "ADDR",
    help: "masquerade as ADDR (a VRRP virtual address) while it is on the WAN interface, instead of the interface's first address",
  },
  public6: {
    type: "string",
    arg: "ADDR6",
    help: "NAT66: masquerade as ADDR6 (a VRRP virtual IPv6 address) while it is on the WAN interface, instead of its first global address",
  },
  "sync-peer": {
    type: "string",
    arg: "ADDR[:PORT]",
    help: "HA pair: stream the connection table to the other gateway and take its (UDP, port 8472 unless given); starts as backup until `ipmasq role master`",
  },
  "sync-key": {
    type: "string",
    arg: "FILE",
    help: "the pair's shared key for the table sync (ours, mode 0600, at least 32 characters)",
  },
  "sync-dev": {
    type: "string",
    arg: "IF",
    help: "the interface of the sync link (default: the one the peer is routed through)",
  },
  json: { type: "boolean", help: "answer in JSON" },
  prefix: {
    type: "string",
    arg: "PREFIX",
    help: "map-e: the end-user IPv6 prefix (the delegated one, or the WAN's /64)",
  },
  sort: { type: "string", arg: "bytes|flows|rate", default: "bytes", help: "order of the hosts" },
  "search-log": { type: "string", arg: "FILE", help: "search an event log instead of following the gateway" },
  "public-port": { type: "string", arg: "P", help: "with --search-log: the public port asked about" },
  at: {
    type: "string",
    arg: "TIME",
    help: 'with --search-log: when (ISO 8601, e.g. 2026-11-25T21:40:00Z, or local "2026-11-25 22:40:00")',
  },
  init: { type: "string", arg: "systemd|sysv", help: "what starts it at boot (default: systemd where it runs)" },
  root: { type: "string", arg: "DIR", default: "/", help: "install under DIR (packaging, tests)" },
  count: { type: "string", arg: "N", default: "20000", help: "packets in the differential run" },
  handover: {
    type: "string",
    arg: "FILE",
    hidden: true,
    help: "the snapshot a graceful restart hands over (internal)",
  },
  help: { type: "boolean", short: "h", help: "this help" },
};

export interface CommandSpec {
  args: string;
  summary: string;
  options: string[];
  positionals: [number, number];
}

const CLIENT = ["state-dir", "tun"];
export const COMMANDS: Record<string, CommandSpec> = {
  run: {
    args: "[options]",
    summary: "run the gateway in the foreground, in this network namespace",
    positionals: [0, 0],
    options: [
      "config",
      "core",
      "workers",
      "max-conns",
      "wan",
      "lan",
      "tun",
      "table",
      "ports",
      "mss-clamp",
      "pcp",
      "upnp",
      "ftp-helper",
      "gro",
      "gro-hold",
      "gro-busy",
      "pin",
      "busy-poll",
      "filtering",
      "npt6",
      "spoof-check",
      "state-dir",
      "metrics",
      "max-conns-per-host",
      "log-events",
      "log-events-rate",
      "web",
      "web-token",
      "public",
      "public6",
      "sync-peer",
      "sync-key",
      "sync-dev",
      "handover",
    ],
  },
  check: {
    args: "[FILE|-] [--json]",
    summary: "validate a rule file (- reads standard input); nothing is applied",
    positionals: [0, 1],
    options: ["config", "json"],
  },
  status: {
    args: "[--json]",
    summary: "the running gateway: WAN, packets, drops by reason, table fill, workers",
    positionals: [0, 0],
    options: ["json", ...CLIENT],
  },
  conns: {
    args: "[--json]",
    summary: "the masqueraded connections and mappings",
    positionals: [0, 0],
    options: ["json", ...CLIENT],
  },
  hosts: {
    args: "[--json] [--sort bytes|flows|rate]",
    summary: "traffic per LAN host since start: bytes, packets, flows, rate",
    positionals: [0, 0],
    options: ["json", "sort", ...CLIENT],
  },
  events: {
    args: "[--json] | --search-log FILE --public-port P --at TIME",
    summary: "follow connection events (NEW, DESTROY, UPDATE), or find who had a public port at a time",
    positionals: [0, 0],
    options: ["json", "search-log", "public-port", "at", ...CLIENT],
  },
  flush: {
    args: "[ADDR]",
    summary: "forget every connection, or a LAN host's (their next packets open new ones or are refused)",
    positionals: [0, 1],
    options: ["json", ...CLIENT],
  },
  set: {
    args: "max-conns-per-host N",
    summary: "change a setting of the running gateway",
    positionals: [2, 2],
    options: ["json", ...CLIENT],
  },
  role: {
    args: "master|backup|fault",
    summary:
      "HA pair: forward (master) or only keep the table in sync (backup, fault); what keepalived's notify scripts call",
    positionals: [1, 1],
    options: ["json", ...CLIENT],
  },
  ipchains: {
    args: "ARGS",
    summary:
      "change or list the running rules, as ipchains did: -A -I -D -R -F -N -X -Z -P, -L [-n] [-v], -M -L, -M -S",
    positionals: [0, Infinity],
    options: ["json", ...CLIENT],
  },
  portfw: {
    args: "ARGS",
    summary: "ipmasqadm portfw: -a -P tcp|udp -L ADDR PORT -R ADDR PORT [-p PREF], -d, -f, -l",
    positionals: [0, Infinity],
    options: ["json", ...CLIENT],
  },
  save: {
    args: "",
    summary: "write the running rules back to the config file",
    positionals: [0, 0],
    options: ["json", ...CLIENT],
  },
  restart: {
    args: "",
    summary: "graceful restart: a new process takes over every connection (also SIGHUP)",
    positionals: [0, 0],
    options: ["json", ...CLIENT],
  },
  install: {
    args: "[--init systemd|sysv] [--root DIR]",
    summary: "start the gateway at boot (systemd unit, or /etc/rc.d/rc.ipmasq)",
    positionals: [0, 0],
    options: ["init", "root", "config"],
  },
  uninstall: { args: "[--root DIR]", summary: "remove what install wrote", positionals: [0, 0], options: ["root"] },
  "map-e": {
    args: "RULE6,RULE4,EA_BITS[,OFFSET],BR[,legacy][,psid=PSID/LEN] --prefix PREFIX [--json]",
    summary: "MAP-E (RFC 7597): the IPv4 address, PSID, port set and CE address a rule gives a prefix",
    positionals: [1, 1],
    options: ["prefix", "json"],
  },
  selftest: {
    args: "[--count N]",
    summary: "the core tests on this machine (golden vectors, WASM vs TS, koffi)",
    positionals: [0, 0],
    options: ["count", "state-dir"],
  },
};
