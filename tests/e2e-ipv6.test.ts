// IPv6 for the LAN end to end: a dual-stack lab (documentation prefixes; the WAN router routes the
// LAN's /64 to the gateway, as an ISP routes a customer's prefix) with the seed's two rule lines
// and nothing for IPv6. The LAN host reaches the WAN over IPv6 (ping, curl byte-exact, iperf3,
// both cores), the gateway counts as one hop, path MTU discovery learns a smaller link behind
// the WAN router; nothing from the WAN reaches the LAN host (TCP, UDP, nmap, forged sources, a
// routing header of type 0, an ICMPv6 error about no flow) until a rule opens one port, and then
// only that port. After a SIGKILL nothing is forwarded until the next start; a stop leaves the
// kernel's IPv6 rules, routes and forwarding switches as they were found.
import t from "tap";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  outcome,
  scapy,
  until,
  sleep,
  LAN6,
  GW_LAN6,
  GW_WAN6,
  WAN6,
  FAR6,
  type Topology,
} from "../harness/topology";
import { NODE, ipmasqCli } from "../harness/ipmasq-cli";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");

// What a stop must leave as it found it: IPv6 rules, routes of every table, forwarding switches.
function kernel6(topo: Topology): string {
  return [
    topo.exec(topo.gw, ["ip", "-6", "rule"]),
    topo.exec(topo.gw, ["ip", "-6", "route", "show", "table", "all"]),
    topo.exec(topo.gw, ["sysctl", "-a", "-r", "^net\\.ipv6\\.conf\\.(all|default|eth0|eth1)\\.forwarding"]),
  ].join("\n---\n");
}

// A UDP listener on IPv6 that prints what it receives.
const UDP6_SINK = `const s = require("node:dgram").createSocket("udp6");
s.on("message", (m) => process.stdout.write("got " + m + "\\n"));
s.bind(Number(process.argv[1]), () => process.stdout.write("listening\\n"));`;

t.test("IPv6 for the LAN: routed, behind RFC 6092 simple security", async (t) => {
  const topo = makeTopology("v6", { ipv6: true, far: true, farMtu: 1400 });
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const config = writeConfig(topo); // the seed's two lines: nothing about IPv6
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  const status = (): { drops: Record<string, number>; flows6: number } => JSON.parse(ipmasq("status", "--json"));
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  topo.spawn(topo.wan, ["iperf3", "-s", "-p", "5201"]);
  await until(() => topo.exec(topo.wan, ["ss", "-Hltn", "sport = :5201"]).trim() !== "");
  // LAN servers that nothing from outside may reach, until a rule says so
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8081"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8082"]));
  const sink = topo.spawn(topo.lan, [NODE, "-e", UDP6_SINK, "5555"]);
  let sunk = "";
  sink.stdout!.on("data", (d) => {
    sunk += d;
  });
  await until(() => sunk.includes("listening"));
  const before = kernel6(topo);

  for (const core of ["wasm", "ts"]) {
    await t.test(`--core ${core}: the LAN host reaches the WAN over IPv6, byte-exact`, async (t) => {
      const g = await startGateway(topo, ["--config", config, "--core", core], state);
      try {
        t.equal(topo.exec(topo.gw, ["sysctl", "-n", "net.ipv6.conf.all.forwarding"]).trim(), "1", "forwarding on");
        const ping = topo.exec(topo.lan, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", WAN6]);
        t.match(ping, /3 received/, "ping -6 from lan reaches wan");
        t.match(ping, /ttl=63/, "the gateway is one hop (hop limit 64 arrives as 63)");
        const n = 20_000_000;
        const got = topo.exec(topo.lan, [
          "sh",
          "-c",
          `curl -sS -6 'http://[${WAN6}]:8080/bytes?n=${n}&seed=6' | sha256sum | cut -d' ' -f1`,
        ]);
        t.equal(got.trim(), sha256Of(n, 6), "20 MB over IPv6 arrives byte-exact");
        const up = JSON.parse(topo.exec(topo.lan, ["iperf3", "-6", "-c", WAN6, "-p", "5201", "-t", "1", "-J"]));
        t.ok(up.end.sum_received.bytes > 1_000_000, `iperf3 -6 to wan: ${up.end.sum_received.bytes} bytes`);
        const down = JSON.parse(topo.exec(topo.lan, ["iperf3", "-6", "-c", WAN6, "-p", "5201", "-t", "1", "-R", "-J"]));
        t.ok(down.end.sum_received.bytes > 1_000_000, `iperf3 -6 -R from wan: ${down.end.sum_received.bytes} bytes`);
        const conns = ipmasq("conns");
        t.match(conns, `[${LAN6}]:`, "conns lists the IPv6 flows");
        t.ok(status().flows6 >= 1, "status counts them");
        const host = (JSON.parse(ipmasq("hosts", "--json")) as Array<{ host: string; bytesIn: number }>).find(
          (r) => r.host === LAN6,
        );
        t.ok(host && host.bytesIn > n, `ipmasq hosts has the LAN host's IPv6 address (${host?.bytesIn} bytes in)`);
      } finally {
        g.proc.kill("SIGTERM");
        await waitExit(g.proc);
      }
    });
  }

  const eventLog = join(topo.dir, "events.log");
  const g = await startGateway(topo, ["--config", config, "--log-events", eventLog], state);
  const noMapping0 = status().drops.no_mapping ?? 0;

  await t.test("nothing from the WAN reaches the LAN host: TCP, UDP, a port scan", async (t) => {
    for (const port of [8081, 8082])
      t.not(
        outcome(() => topo.exec(topo.wan, ["curl", "-sS", "-6", "--max-time", "2", `http://[${LAN6}]:${port}/`])).code,
        0,
        `TCP ${port} from the WAN is not answered`,
      );
    topo.exec(topo.wan, [NODE, "-e", udpSend(LAN6, 5555, "unsolicited", 5)]);
    const scan = topo.exec(
      topo.wan,
      [
        "nmap",
        "-6",
        "-Pn",
        "-n",
        "-T5",
        "--max-retries",
        "0",
        "--max-rtt-timeout",
        "100ms",
        "-p",
        "1-1024,5555,8000-8100",
        LAN6,
      ],
      { timeout: 120_000 },
    );
    t.match(scan, /filtered/, "nmap -6 sees the ports filtered");
    t.notMatch(scan, /\bopen\b/, "nmap -6 finds no open port");
    await sleep(300);
    t.notMatch(sunk, /unsolicited/, "no unsolicited datagram reached the LAN's UDP listener");
    t.ok((status().drops.no_mapping ?? 0) > noMapping0 + 5, "they are counted as no_mapping");
  });

  await t.test("a rule opens one port of one LAN host, and only that port", async (t) => {
    ipmasq("ipchains", "-A", "forward", "-p", "tcp", "-d", LAN6, "8081", "-j", "ACCEPT");
    t.match(ipmasq("ipchains", "-L", "forward", "-n"), LAN6, "the rule lists with its IPv6 address");
    const size = topo.exec(
      topo.wan,
      [
        "curl",
        "-sS",
        "-6",
        "--max-time",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        `http://[${LAN6}]:8081/bytes?n=1000&seed=2`,
      ],
      { timeout: 10_000 },
    );
    t.equal(size, "1000", "TCP 8081 of the LAN host answers the WAN (no NAT needed in IPv6)");
    t.not(
      outcome(() => topo.exec(topo.wan, ["curl", "-sS", "-6", "--max-time", "2", `http://[${LAN6}]:8082/`])).code,
      0,
      "TCP 8082 stays closed",
    );
    ipmasq("ipchains", "-D", "forward", "-p", "tcp", "-d", LAN6, "8081", "-j", "ACCEPT");
    ipmasq("flush");
    await until(() => /DESTROY.*flush/.test(readFileSync(eventLog, "utf8")));
    const lines = readFileSync(eventLog, "utf8")
      .split("\n")
      .filter((l) => l.includes(`[${LAN6}]:8081`));
    t.ok(
      lines.some((l) => l.includes("NEW")) && lines.some((l) => /DESTROY.*flush/.test(l)),
      "the event log has the IPv6 flow's NEW and its DESTROY (flush)",
    );
  });

  await t.test("forged and hostile IPv6 from the WAN is dropped and counted", async (t) => {
    const d0 = status().drops;
    const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
    scapy(
      topo,
      topo.wan,
      `
e = Ether(dst="${mac}")
sendp(e/IPv6(src="2001:db8:1::77", dst="${LAN6}")/UDP(sport=7, dport=5555)/b"spoofed", iface="wan0", verbose=0, count=3)
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/IPv6ExtHdrRouting(type=0, segleft=1, addresses=["2001:db8:1::99"])/UDP(sport=7, dport=5555)/b"rh0", iface="wan0", verbose=0, count=3)
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/ICMPv6PacketTooBig(mtu=1280)/IPv6(src="${LAN6}", dst="${WAN6}")/UDP(sport=4444, dport=4445), iface="wan0", verbose=0, count=3)
sendp(e/IPv6(src="::1", dst="${LAN6}")/UDP(sport=7, dport=5555)/b"martian", iface="wan0", verbose=0, count=3)
`,
    );
    await sleep(300);
    const d = status().drops;
    const more = (r: string): number => (d[r] ?? 0) - (d0[r] ?? 0);
    t.ok(more("spoofed") >= 3, `a LAN source from the WAN: spoofed (${more("spoofed")})`);
    t.ok(more("routing_header_0") >= 3, `a routing header of type 0 (${more("routing_header_0")})`);
    t.ok(more("no_mapping") >= 3, `a Packet Too Big about no flow (${more("no_mapping")})`);
    t.notMatch(sunk, /spoofed|rh0|martian/, "none reached the LAN host");
  });

  await t.test("inbound fragments: a flow's reach the LAN host, others do not", async (t) => {
    // a UDP echo on the WAN host answers 4000 bytes: the WAN host's kernel fragments the answer
    await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5354", "6"]));
    const d0 = status().drops;
    const f0 = d0.fragment ?? 0;
    const answer = topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5354", "bytes:4000"]);
    const m = /^seen \S+ (\d+) bytes sha256 (\w+)/.exec(answer);
    const sent = createHash("sha256")
      .update(Uint8Array.from({ length: 4000 }, (_, i) => (i * 7 + (i >> 8)) & 255))
      .digest("hex");
    t.same([m?.[1], m?.[2]], ["4000", sent], "a 4000-byte UDP answer in fragments arrives whole");
    t.equal((status().drops.fragment ?? 0) - f0, 0, "none of its fragments was dropped");
    // fragments of datagrams no flow asked for: a first one to a closed port, a later one alone
    const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
    scapy(
      topo,
      topo.wan,
      `
e = Ether(dst="${mac}")
big = IPv6(src="${WAN6}", dst="${LAN6}")/IPv6ExtHdrFragment(id=0x1234)/UDP(sport=53, dport=5555)/(b"unsolicited" * 300)
for f in fragment6(big, 1280):
    sendp(e/f, iface="wan0", verbose=0)
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/IPv6ExtHdrFragment(id=0x5678, offset=100, m=0, nh=17)/(b"x" * 64), iface="wan0", verbose=0)
`,
    );
    await sleep(300);
    t.notMatch(sunk, /unsolicited/, "an unsolicited fragmented datagram does not reach the LAN host");
    const d = status().drops;
    t.ok((d.no_mapping ?? 0) > (d0.no_mapping ?? 0), "the first fragment is decided as its datagram: no_mapping");
    t.ok(
      (d.fragment ?? 0) - f0 >= 3,
      `the later ones and a lone one, with no open gate: fragment (${(d.fragment ?? 0) - f0})`,
    );
  });

  await t.test("unique local addresses stay inside the site (RFC 6092 REC-7)", async (t) => {
    // the LAN gets a ULA prefix beside its global one; the WAN router would route it to us
    topo.exec(topo.gw, ["ip", "-6", "addr", "add", "fd00:1::1/64", "dev", "eth1", "nodad"]);
    topo.exec(topo.lan, ["ip", "-6", "addr", "add", "fd00:1::2/64", "dev", "lan0", "nodad"]);
    topo.exec(topo.wan, ["ip", "-6", "route", "add", "fd00:1::/64", "via", GW_WAN6]);
    t.teardown(() => {
      topo.exec(topo.wan, ["ip", "-6", "route", "del", "fd00:1::/64"]);
      topo.exec(topo.lan, ["ip", "-6", "addr", "del", "fd00:1::2/64", "dev", "lan0"]);
      topo.exec(topo.gw, ["ip", "-6", "addr", "del", "fd00:1::1/64", "dev", "eth1"]);
    });
    const ping = (ns: string, args: string[]): number =>
      outcome(() => topo.exec(ns, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", ...args])).code;
    // once the gateway follows the new prefix, the LAN host's ULA reaches the gateway's (through
    // ipmasq's source check: before, it is a source of no LAN prefix)
    await until(() => ping(topo.lan, ["-c", "1", "fd00:1::1"]) === 0, 5000);
    t.pass("inside the site the ULA works (the gateway's own, through ipmasq's source check)");
    const u0 = status().drops.unique_local ?? 0;
    t.not(ping(topo.lan, ["-I", "fd00:1::2", WAN6]), 0, "from the LAN's ULA to the WAN: nothing comes back");
    t.not(ping(topo.wan, ["fd00:1::2"]), 0, "from the WAN to the LAN's ULA: nothing arrives");
    t.equal(ping(topo.lan, ["-I", LAN6, WAN6]), 0, "and the LAN host's global address still goes out");
    const u = (status().drops.unique_local ?? 0) - u0;
    t.ok(u >= 4, `counted as unique_local (${u})`);
  });

  await t.test("path MTU discovery and traceroute through the gateway", async (t) => {
    const tp = topo.exec(topo.lan, ["tracepath", "-6", "-n", FAR6], { timeout: 60_000 });
    t.match(tp, /pmtu 1400/, "tracepath -6 learns the 1400-byte link behind the WAN router");
    // an upload to the far host: full-size segments from the LAN meet the 1400-byte link; the
    // router's Packet Too Big must come back through the gateway, or the upload stalls
    await waitListening(topo.spawn(topo.far, [NODE, join(PEERS, "http-server.js"), "8080"]));
    topo.exec(topo.lan, ["sh", "-c", `head -c 3000000 /dev/urandom > ${join(topo.dir, "up.bin")}`]);
    const sent = topo.exec(topo.lan, ["sha256sum", join(topo.dir, "up.bin")]).split(" ")[0];
    const answer = topo.exec(
      topo.lan,
      [
        "curl",
        "-sS",
        "-6",
        "--max-time",
        "20",
        "--data-binary",
        `@${join(topo.dir, "up.bin")}`,
        `http://[${FAR6}]:8080/upload`,
      ],
      { timeout: 30_000 },
    );
    t.match(answer, sent, "a 3 MB upload across the smaller link arrives whole");
    const tr = topo.exec(topo.lan, ["traceroute", "-6", "-n", "-q", "1", "-w", "2", FAR6], { timeout: 60_000 });
    const hops = tr.split("\n").slice(1);
    t.match(hops[0] ?? "", GW_LAN6, "hop 1 is the gateway");
    t.match(hops[1] ?? "", WAN6, "hop 2 is the WAN router (its error about a live flow came back in)");
    t.match(hops[2] ?? "", FAR6, "hop 3 is the far host");
  });

  await t.test("a graceful restart carries the IPv6 flows: a download goes on", async (t) => {
    const n = 6_000_000;
    const dl = topo.spawn(topo.lan, [
      "sh",
      "-c",
      `curl -sS -6 'http://[${WAN6}]:8080/bytes?n=${n}&seed=9&rate=1000000' | sha256sum | cut -d' ' -f1`,
    ]);
    let got = "";
    dl.stdout!.on("data", (d) => {
      got += d;
    });
    const flowOf = (): string | undefined =>
      ipmasq("conns")
        .split("\n")
        .find((l) => l.includes(`[${WAN6}]:8080`));
    await until(() => flowOf() !== undefined);
    const pid = JSON.parse(ipmasq("status", "--json")).pid;
    type Host = { host: string; flowsTotal: number; bytesIn: number };
    const hostRow = (): Host | undefined =>
      (JSON.parse(ipmasq("hosts", "--json")) as Host[]).find((r) => r.host === LAN6);
    const before = hostRow()!;
    ipmasq("restart");
    const newPid = (): number => {
      const r = outcome(() => ipmasq("status", "--json")); // none answers for a moment
      return r.code === 0 ? JSON.parse(r.out).pid : pid;
    };
    await until(() => newPid() !== pid, 20_000);
    await until(() => /took over/.test(g.log())); // its stderr is read through the same pipe
    t.match(g.log(), /and [1-9]\d* IPv6 flows from the previous process/, "the new process took the IPv6 flows over");
    t.ok(flowOf(), "the download's flow is in the new process's table");
    topo.exec(topo.wan, ["curl", "-sS", "http://127.0.0.1:8080/rate?r=0"]); // let it finish
    await until(() => got.trim() !== "", 30_000);
    t.equal(got.trim(), sha256Of(n, 9), "6 MB across the restart, byte-exact");
    const after = hostRow()!;
    t.ok(
      after.flowsTotal >= before.flowsTotal && after.bytesIn >= before.bytesIn,
      `the IPv6 host's totals went on across it (${before.flowsTotal} -> ${after.flowsTotal} flows, ${before.bytesIn} -> ${after.bytesIn} bytes in)`,
    );
  });

  await t.test("SIGKILL: IPv6 forwards nothing until the next start; a stop restores the kernel", async (t) => {
    process.kill(JSON.parse(ipmasq("status", "--json")).pid, "SIGKILL");
    await waitExit(g.proc);
    const ping = outcome(() => topo.exec(topo.lan, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", WAN6]));
    t.not(ping.code, 0, "nothing crosses while no gateway runs (fail closed)");
    const again = await startGateway(topo, ["--config", config], state);
    t.match(
      topo.exec(topo.lan, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", WAN6]),
      /2 received/,
      "the next start forwards again",
    );
    again.proc.kill("SIGTERM");
    await waitExit(again.proc);
    t.equal(kernel6(topo), before, "IPv6 rules, routes and forwarding switches as they were found");
  });
});

function udpSend(host: string, port: number, text: string, count: number): string {
  return `const s = require("node:dgram").createSocket("udp6"); let n = 0;
const go = () => s.send("${text}", ${port}, "${host}", () => (++n < ${count} ? go() : s.close())); go();`;
}
