// `ipmasq install`: the gateway starts at boot. A systemd unit where systemd runs, else an rc
// script in the seed's place, /etc/rc.d/rc.ipmasq. `--root DIR` writes under DIR (packaging, tests).
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from "node:fs";
import { join, dirname } from "node:path";
import { execFileSync } from "node:child_process";
import { bashCompletion } from "./completion";
import { pageSource } from "./manual";

const LIB = "usr/local/lib/ipmasq/ipmasq.js";
const MAN8 = "usr/local/share/man/man8/ipmasq.8";
const MAN5 = "usr/local/share/man/man5/ipmasq.conf.5";
const COMPLETION = "usr/local/share/bash-completion/completions/ipmasq";
const BIN = "usr/local/sbin/ipmasq";
const UNIT = "etc/systemd/system/ipmasq.service";
const RC = "etc/rc.d/rc.ipmasq";

// The least the gateway needs, found by trying (tests/e2e-privileges.test.ts): CAP_NET_ADMIN for
// the TUN devices, rules, routes, net sysctls and ethtool; CAP_BPF to load the program that reads
// both directions of a flow from one TUN queue (host/tun/steering.ts; without it the gateway runs
// and says so, and TCP costs more CPU). Root's own files (/proc/sys/net, the state directory)
// need no capability.
export const CAPABILITIES = ["CAP_NET_ADMIN", "CAP_BPF"];

export function systemdUnit(node: string, config: string): string {
  return `[Unit]
Description=ipmasq IP masquerade gateway
Documentation=man:ipmasq(8) man:ipmasq.conf(5)
After=network-online.target
Wants=network-online.target

[Service]
# The gateway says READY=1 when it forwards; after a graceful restart (reload) the new process
# names itself MAINPID, so notifications may come from any process of the service.
Type=notify
NotifyAccess=all
ExecStart=${node} /${LIB} run --config ${config} --state-dir /run/ipmasq
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartSec=2
# the journal must outlive a crash, so that the next start undoes what the crashed one did
RuntimeDirectory=ipmasq
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes

# Least privilege: only what it needs, and nothing it could gain.
CapabilityBoundingSet=${CAPABILITIES.join(" ")}
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/run/ipmasq -${config}
ProtectHome=yes
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
DevicePolicy=closed
DeviceAllow=/dev/net/tun rw
UMask=0077

[Install]
WantedBy=multi-user.target
`;
}

export function rcScript(config: string): string {
  return `#!/bin/sh
# rc.ipmasq - start the ipmasq gateway at boot (written by ipmasq install).
# Call it from /etc/rc.d/rc.local as the seed did (Slackware), or /etc/rc.local (Debian):
#   if [ -x /etc/rc.d/rc.ipmasq ]; then /etc/rc.d/rc.ipmasq start; fi
IPMASQ=\${IPMASQ:-/${BIN}}
CONFIG=\${CONFIG:-${config}}
LOG=\${LOG:-/var/log/ipmasq.log}
IPMASQ_OPTS=\${IPMASQ_OPTS:-}

# IPMASQ_OPTS are run's; status finds the gateway by --state-dir and --tun among them
client_opts() {
  set -- $IPMASQ_OPTS
  while [ $# -gt 0 ]; do
    case "$1" in --state-dir|--tun) printf ' %s %s' "$1" "$2"; shift 2 ;; *) shift ;; esac
  done
}

running_pid() {
  "$IPMASQ" status --json $(client_opts) 2>/dev/null | sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p'
}

case "\${1:-start}" in
  start)
    if [ -n "$(running_pid)" ]; then echo "ipmasq is already running"; exit 0; fi
    "$IPMASQ" check "$CONFIG" || exit 1
    nohup "$IPMASQ" run --config "$CONFIG" $IPMASQ_OPTS >>"$LOG" 2>&1 </dev/null &
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      [ -n "$(running_pid)" ] && { echo "ipmasq started"; exit 0; }
      sleep 0.5
    done
    echo "ipmasq did not start, see $LOG"; exit 1 ;;
  stop)
    pid=$(running_pid)
    [ -z "$pid" ] && { echo "ipmasq is not running"; exit 0; }
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    echo "ipmasq stopped" ;;
  restart|reload)
    pid=$(running_pid)
    [ -z "$pid" ] && { echo "ipmasq is not running"; exit 1; }
    kill -HUP "$pid" && echo "ipmasq: graceful restart" ;;
  status)
    exec "$IPMASQ" status $(client_opts) ;;
  *)
    echo "usage: $0 start|stop|restart|status"; exit 2 ;;
esac
`;
}

// The folders install made (deepest last), so that uninstall removes them again once empty, and
// never a folder that was there before.
const MADE = "usr/local/lib/ipmasq/installed-folders";

// Both say what they wrote or removed where they did it (under --root DIR, with DIR).
export function install(o: { root: string; init: "systemd" | "sysv"; config: string; bundle: string }): string {
  const at = (p: string): string => join(o.root, p);
  const made: string[] = [];
  const folderOf = (p: string): void => {
    const missing: string[] = [];
    for (let d = dirname(p); d !== "." && !existsSync(at(d)); d = dirname(d)) missing.unshift(d);
    mkdirSync(dirname(at(p)), { recursive: true });
    made.push(...missing);
  };
  const out: string[] = [];
  folderOf(LIB);
  copyFileSync(o.bundle, at(LIB));
  chmodSync(at(LIB), 0o755);
  folderOf(BIN);
  rmSync(at(BIN), { force: true });
  symlinkSync(`/${LIB}`.replace(/^\/usr\/local/, ".."), at(BIN));
  out.push(`installed ${at(LIB)} and ${at(BIN)}`);
  for (const [path, text] of [
    [MAN8, pageSource("manual")],
    [MAN5, pageSource("conf")],
    [COMPLETION, bashCompletion()],
  ] as const) {
    folderOf(path);
    writeFileSync(at(path), text, { mode: 0o644 });
  }
  out.push(`installed the manual pages ipmasq(8), ipmasq.conf(5) and bash completion`);
  if (o.init === "systemd") {
    folderOf(UNIT);
    writeFileSync(at(UNIT), systemdUnit(process.execPath, o.config));
    out.push(`wrote ${at(UNIT)}`);
    if (o.root === "/" && existsSync("/run/systemd/system")) {
      execFileSync("systemctl", ["daemon-reload"]);
      execFileSync("systemctl", ["enable", "ipmasq.service"]);
      out.push("enabled ipmasq.service (systemctl start ipmasq to start it now)");
    }
  } else {
    folderOf(RC);
    writeFileSync(at(RC), rcScript(o.config), { mode: 0o755 });
    // Slackware (the seed's) has /etc/rc.d/rc.local, Debian and most others /etc/rc.local
    const rcLocal = existsSync(at("etc/rc.d/rc.local")) ? "/etc/rc.d/rc.local" : "/etc/rc.local";
    out.push(`wrote ${at(RC)}; add to ${rcLocal}:  if [ -x /${RC} ]; then /${RC} start; fi`);
  }
  const before = existsSync(at(MADE)) ? readFileSync(at(MADE), "utf8").split("\n").filter(Boolean) : [];
  writeFileSync(at(MADE), [...new Set([...before, ...made])].map((d) => `${d}\n`).join(""), { mode: 0o644 });
  if (!existsSync(join(o.root, o.config)))
    out.push(`note: ${o.config} does not exist yet: put your ipchains lines there`);
  return `${out.join("\n")}\n`;
}

export function uninstall(root: string): string {
  const at = (p: string): string => join(root, p);
  const removed: string[] = [];
  if (root === "/" && existsSync(at(UNIT)) && existsSync("/run/systemd/system")) {
    try {
      execFileSync("systemctl", ["disable", "ipmasq.service"]);
    } catch {
      /* not enabled */
    }
  }
  for (const p of [UNIT, RC, BIN, LIB, MAN8, MAN5, COMPLETION]) {
    if (existsSync(at(p)) || p === BIN) {
      try {
        rmSync(at(p));
        removed.push(at(p));
      } catch {
        /* not there */
      }
    }
  }
  // the folders install made, deepest first, each only if nothing else has moved in
  const made = existsSync(at(MADE)) ? readFileSync(at(MADE), "utf8").split("\n").filter(Boolean) : [];
  rmSync(at(MADE), { force: true });
  for (const d of made.sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(at(d));
      removed.push(`${at(d)}/`);
    } catch {
      /* not empty, or gone */
    }
  }
  return removed.length ? `removed ${removed.join(", ")}\n` : "nothing to remove\n";
}
