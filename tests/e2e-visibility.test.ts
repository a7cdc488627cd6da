// What the network does, seen from the gateway: per-host accounting (`ipmasq hosts`, status,
// Prometheus), the per-host connection limit, connection events (`ipmasq events`, the event
// log in a file and through a syslog socket) and the abuse-report search, with curl and real
// TCP/UDP peers through the gateway.
import t from "tap";
import { join } from "node:path";
import { readFileSync, symlinkSync } from "node:fs";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  outcome,
  until,
  SEED_CONFIG,
} from "../harness/topology";
import { BUNDLE, NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");
const CONFIG = SEED_CONFIG;

interface HostRow {
  host: string;
  flows: number;
  flowsTotal: number;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
}
interface Ev {
  time: string;
  type: string;
  proto: string;
  state: string;
  lan: string;
  public: string;
  remote: string;
  bytesIn: number;
  packetsIn: number;
  seconds: number;
  why: string;
}

t.test("accounting, events, the event log and its search, the per-host limit", async (t) => {
  const topo = makeTopology("vis");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const logFile = join(topo.dir, "events.log");
  const sock = join(topo.dir, "syslog.sock");
  // a syslog daemon stand-in: a UNIX datagram socket that writes what it receives to a file
  const syslog = topo.spawn(topo.gw, [
    "/usr/bin/python3",
    "-c",
    `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(${JSON.stringify(sock)})
print("listening", flush=True)
with open(${JSON.stringify(join(topo.dir, "syslog.out"))}, "a") as f:
    while True:
        f.write(s.recv(65536).decode() + "\\n"); f.flush()
`,
  ]);
  await waitListening(syslog);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8000"]));
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "tcp-many.js"), "server", "8001"]));

  // refused before anything runs: a log file that is a link
  symlinkSync("/etc/hostname", join(topo.dir, "link.log"));
  const linked = outcome(() =>
    topo.exec(topo.gw, [
      NODE,
      BUNDLE,
      "run",
      "--state-dir",
      state,
      "--config",
      writeConfig(topo, CONFIG),
      "--log-events",
      join(topo.dir, "link.log"),
    ]),
  );
  t.match(
    linked,
    { code: 1, out: /link\.log: is a symbolic link \(refused\)/ },
    "--log-events refuses a symbolic link",
  );

  const g = await startGateway(
    topo,
    ["--config", writeConfig(topo, CONFIG), "--log-events", logFile, "--metrics", "9100"],
    state,
  );
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const cli = ipmasqCli(topo.exec, topo.gw, state);

  // `ipmasq events --json` follows from here on
  const follower = topo.spawn(topo.gw, [NODE, BUNDLE, "events", "--json", "--state-dir", state]);
  let streamed = "";
  follower.stdout!.on("data", (d) => {
    streamed += d;
  });
  let following = "";
  follower.stderr!.on("data", (d) => {
    following += d;
  });
  await until(() => following.includes("following connection events"), 10_000);
  const events = (): Ev[] =>
    streamed
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));

  const before = Date.now();
  const got = topo.exec(topo.lan, [
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{size_download} %{local_port}",
    "http://10.0.0.2:8000/bytes?n=2000000",
  ]);
  const [size, localPort] = got.split(" ").map(Number);
  t.equal(size, 2_000_000, "a 2 MB download through the gateway");

  const rows = (): HostRow[] => JSON.parse(cli("hosts", "--json"));
  const me = (): HostRow | undefined => rows().find((r) => r.host === "192.168.0.2");
  t.ok(
    (me()?.bytesIn ?? 0) >= 2_000_000 && (me()?.packetsIn ?? 0) >= 2_000_000 / 65536 && (me()?.flowsTotal ?? 0) >= 1,
    `hosts: 192.168.0.2 received at least the 2 MB, in packets, over a flow (${JSON.stringify(me())})`,
  );
  t.match(cli("hosts"), /^host\s+rate out\s+rate in\s+bytes out\s+bytes in.*\n192\.168\.0\.2\s/m, "hosts as a table");

  // the flow's life: NEW at once, DESTROY when it is flushed (a closed one would wait out
  // RFC 5382's 4 minutes)
  await until(() => events().some((e) => e.type === "NEW" && e.lan === `192.168.0.2:${localPort}`), 5000).catch((e) => {
    throw new Error(`${e.message}: ${streamed} ${g.log()}`);
  });
  const opened = events().find((e) => e.type === "NEW" && e.lan === `192.168.0.2:${localPort}`);
  t.match(
    opened,
    { proto: "tcp", remote: "10.0.0.2:8000", public: /^10\.0\.0\.1:\d+$/ },
    "events: NEW with the LAN, public and remote ends",
  );
  const publicPort = Number(opened!.public.split(":")[1]);
  t.match(
    cli("flush", "192.168.0.2"),
    /^[1-9]\d* connections? forgotten of 192\.168\.0\.2/,
    "flush a host's connections",
  );
  await until(() => events().some((e) => e.type === "DESTROY" && e.lan === `192.168.0.2:${localPort}`), 5000);
  const ended = events().find((e) => e.type === "DESTROY" && e.lan === `192.168.0.2:${localPort}`);
  t.match(
    ended,
    { why: "flush", state: "TIME_WAIT", public: opened!.public },
    "events: DESTROY, why: flush, in the state the flow had (closed both ways)",
  );
  t.ok(
    ended!.bytesIn >= 2_000_000 && ended!.packetsIn > 0,
    `DESTROY carries the bytes and packets (${ended!.bytesIn} B in ${ended!.packetsIn} packets)`,
  );
  const after = me()!;
  t.ok(after.flows === 0 && after.bytesIn >= 2_000_000, "after the flow ended, its bytes stay in the host's totals");

  // a port forward made and removed: UPDATE events
  cli("portfw", "-a", "-P", "tcp", "-L", "10.0.0.1", "8080", "-R", "192.168.0.2", "80");
  cli("portfw", "-d", "-P", "tcp", "-L", "10.0.0.1", "8080", "-R", "192.168.0.2", "80");
  await until(() => events().filter((e) => e.type === "UPDATE").length >= 2, 5000);
  t.same(
    events()
      .filter((e) => e.type === "UPDATE")
      .map((e) => `${e.why} ${e.lan} ${e.public}`),
    ["portfw add 192.168.0.2:80 10.0.0.1:8080", "portfw delete 192.168.0.2:80 10.0.0.1:8080"],
    "events: UPDATE for a port forward added and deleted",
  );

  // Prometheus: the host series
  const metrics = topo.exec(topo.gw, ["curl", "-sS", "http://127.0.0.1:9100/metrics"]);
  t.match(
    metrics,
    /ipmasq_host_bytes_total\{host="192\.168\.0\.2",direction="in"\} \d{7,}/,
    "metrics: ipmasq_host_bytes_total",
  );
  t.match(metrics, /ipmasq_host_flows\{host="192\.168\.0\.2"\} 0/, "metrics: ipmasq_host_flows");
  t.match(metrics, /ipmasq_events_total\{type="destroy"\} [1-9]/, "metrics: events counted");

  // the log: RFC 5424 lines, and the abuse-report question answered from it
  await until(
    () =>
      readFileSync(logFile, "utf8").includes(`lan="192.168.0.2:${localPort}"`) &&
      readFileSync(logFile, "utf8").includes("DESTROY"),
    5000,
  );
  const logged = readFileSync(logFile, "utf8");
  t.match(
    logged,
    /^<30>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ ipmasq \d+ NEW \[flow@32473 proto="tcp" state="SYN_SENT" lan="192\.168\.0\.2:\d+" public="10\.0\.0\.1:\d+" remote="10\.0\.0\.2:8000" /m,
    "the log file has RFC 5424 lines with structured data",
  );
  const mid = new Date((before + Date.parse(ended!.time)) / 2 + 200).toISOString();
  const found = topo.exec(topo.gw, [
    NODE,
    BUNDLE,
    "events",
    "--search-log",
    logFile,
    "--public-port",
    String(publicPort),
    "--at",
    mid,
  ]);
  t.match(
    found,
    new RegExp(
      `^192\\.168\\.0\\.2:${localPort} had public 10\\.0\\.0\\.1:${publicPort} \\(tcp to 10\\.0\\.0\\.2:8000\\)`,
    ),
    `--search-log: who had public port ${publicPort} at ${mid}`,
  );
  const earlier = outcome(() =>
    topo.exec(topo.gw, [
      NODE,
      BUNDLE,
      "events",
      "--search-log",
      logFile,
      "--public-port",
      String(publicPort),
      "--at",
      new Date(before - 60_000).toISOString(),
    ]),
  );
  t.match(earlier, { code: 1, out: /nobody had public port/ }, "and nobody a minute before");

  // the per-host limit, changed live: 3 of 5 connections of one host refused, another host unaffected
  t.match(cli("set", "max-conns-per-host", "2"), /a LAN host may have 2 connections/, "set max-conns-per-host 2");
  const many = outcome(() =>
    topo.exec(topo.lan, [NODE, join(PEERS, "tcp-many.js"), "client", "10.0.0.2", "8001", "5"]),
  );
  t.match(JSON.parse(many.out), { ok: 2, failed: 3 }, "a host with 2 connections open cannot open more");
  // its 2 connections stay in the table a few seconds (closing): the host is still at its limit
  const unreach = outcome(() => topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8000/"]));
  t.match(
    unreach.out,
    /No route to host|Couldn't connect/,
    "the refused host hears ICMP administratively prohibited at once (curl: no route to host)",
  );
  topo.exec(topo.lan, ["ip", "addr", "add", "192.168.0.3/24", "dev", "lan0"]);
  const other = topo.exec(topo.lan, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    "--interface",
    "192.168.0.3",
    "http://10.0.0.2:8000/",
  ]);
  t.match(other, /"from":"10\.0\.0\.1"/, "another LAN host still connects");
  const status = JSON.parse(cli("status", "--json"));
  t.ok(
    status.drops.host_limit >= 3 && status.hostLimitDrops >= 3 && status.maxConnsPerHost === 2,
    `counted as host_limit (${status.drops.host_limit})`,
  );
  cli("set", "max-conns-per-host", "0");
  t.match(
    outcome(() => cli("set", "max-conns-per-host", "lots")),
    { code: 1, out: /must be a whole number/ },
    "a bad value is refused",
  );

  // the syslog socket: the same lines as datagrams
  const g2 = await (async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc);
    return startGateway(topo, ["--config", writeConfig(topo, CONFIG), "--log-events", `syslog:${sock}`], state);
  })();
  t.teardown(async () => {
    g2.proc.kill("SIGTERM");
    await waitExit(g2.proc).catch(() => undefined);
  });
  topo.exec(topo.lan, ["curl", "-sS", "-o", "/dev/null", "http://10.0.0.2:8000/bytes?n=1000"]);
  await until(() => {
    try {
      return readFileSync(join(topo.dir, "syslog.out"), "utf8").includes("NEW [flow@32473");
    } catch {
      return false;
    }
  }, 5000);
  t.match(
    readFileSync(join(topo.dir, "syslog.out"), "utf8"),
    /^<30>1 \S+ \S+ ipmasq \d+ NEW \[flow@32473 proto="tcp"/m,
    "--log-events syslog:SOCKET sends RFC 5424 datagrams",
  );
  g2.proc.kill("SIGTERM");
  await waitExit(g2.proc);

  // bounded under a burst: 3000 connections (6000 events) with a stopped reader and a log limited
  // to 100 lines a second: lines are dropped and counted, nothing queues without limit
  const g3 = await startGateway(
    topo,
    ["--config", writeConfig(topo, CONFIG), "--log-events", join(topo.dir, "burst.log"), "--log-events-rate", "100"],
    state,
  );
  t.teardown(async () => {
    g3.proc.kill("SIGTERM");
    await waitExit(g3.proc).catch(() => undefined);
  });
  const stopped = topo.spawn(topo.gw, [NODE, BUNDLE, "events", "--json", "--state-dir", state]);
  let stoppedOut = "",
    stoppedErr = "";
  stopped.stdout!.on("data", (d) => {
    stoppedOut += d;
  });
  stopped.stderr!.on("data", (d) => {
    stoppedErr += d;
  });
  await until(() => stoppedErr.includes("following"), 10_000);
  const rss = (): number =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${g3.proc.pid}/status`, "utf8"))![1]) * 1024;
  const rssBefore = rss();
  process.kill(stopped.pid!, "SIGSTOP");
  const burst = JSON.parse(
    topo.exec(topo.lan, [NODE, join(PEERS, "tcp-many.js"), "client", "10.0.0.2", "8001", "3000"], { timeout: 90_000 }),
  );
  t.equal(burst.ok, 3000, "3000 connections through the gateway");
  cli("flush");
  await new Promise((r) => setTimeout(r, 1000));
  const st = JSON.parse(cli("status", "--json"));
  t.ok(
    st.events.new >= 3000 && st.events.destroy >= 3000,
    `every event was taken from the ring (${st.events.new} NEW, ${st.events.destroy} DESTROY, ${st.events.lost} lost)`,
  );
  t.ok(
    st.events.logDropped > 4000 && st.events.logged < 2000,
    `the log kept to its rate: ${st.events.logged} lines written, ${st.events.logDropped} dropped and counted`,
  );
  const grown = rss() - rssBefore;
  process.kill(stopped.pid!, "SIGCONT");
  await until(() => /"dropped":\d+/.test(stoppedOut), 10_000);
  t.pass(
    `the stopped reader, resumed, is told how many lines it lost (${/"dropped":(\d+)/.exec(stoppedOut)![1]}); the gateway grew ${(grown / 1048576).toFixed(1)} MiB meanwhile`,
  );
  t.ok(grown < 64 * 1048576, "less than 64 MiB");
});
