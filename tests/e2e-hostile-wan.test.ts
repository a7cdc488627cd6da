// A hostile host on the WAN segment (issue: "nothing on the WAN side may steer the gateway"): it
// routes the LAN prefix at the gateway's WAN address and sends what it likes — direct packets to
// LAN hosts, forged LAN and martian sources (scapy), NAT-PMP and PCP requests to both gateway
// addresses, a port scan (nmap) and a flood. Nothing reaches the LAN host (its own counters say
// so), nothing is masqueraded out (the WAN host's sink says so), and the gateway's counters say why.
// The lab is dual stack: the same again over IPv6 (routed, RFC 6092's filter instead of the NAT).
import t, { type Test } from "tap";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  snmp,
  scapy,
  LAN6,
  WAN6,
  GW_WAN6,
  type Topology,
} from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

// The LAN host's own receive counters, to prove nothing arrived.
const RECEIVED = [
  "Icmp.InEchos",
  "Icmp.InMsgs",
  "Tcp.PassiveOpens", // IPv4 and IPv6
  "Tcp.InSegs",
  "Udp.InDatagrams",
  "Udp.NoPorts",
  "Icmp6InEchos", // not Icmp6InMsgs: the gateway's neighbour solicitations count there
  "Udp6InDatagrams",
  "Udp6NoPorts",
];
const lanCounters = (topo: Topology): Record<string, number> => {
  const all = snmp(topo, topo.lan);
  return Object.fromEntries(RECEIVED.map((k) => [k, all[k]]));
};

// Collects what a UDP sink on the WAN host receives.
async function sink(
  topo: Topology,
  port: number,
  family: "4" | "6" = "4",
): Promise<{ proc: ChildProcess; lines: () => string[] }> {
  const proc = topo.spawn(topo.wan, [NODE, join(PEERS, "udp-sink.js"), String(port), family]);
  let out = "";
  proc.stdout!.on("data", (d) => {
    out += d;
  });
  await waitListening(proc);
  return { proc, lines: () => out.split("\n").filter((l) => l.startsWith("from ")) };
}

t.test("a hostile WAN host", async (t) => {
  const topo = makeTopology("hostile", { ipv6: true });
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  topo.exec(topo.wan, ["ip", "route", "add", "192.168.0.0/24", "via", "10.0.0.1"]);
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "9999"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo), "--pcp", "on", "--metrics", "9100"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const drops = (): Record<string, number> =>
    JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "status", "--json", "--state-dir", state])).drops;
  const received = await sink(topo, 9999);
  const received6 = await sink(topo, 9999, "6");

  // a real flow first, so that forged packets have a flow to abuse
  topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "send", "10.0.0.2", "9999", "real", "40000"]);
  await new Promise((r) => setTimeout(r, 300));
  const real = received.lines();
  t.same(
    real.map((l) => l.replace(/:\d+ /, ":P ")),
    ["from 10.0.0.1:P real"],
    "the WAN host sees the LAN host as 10.0.0.1",
  );
  const dropsBefore = drops();
  // what the hostile host does must not move the LAN host's receive counters
  const unmoved = async (t: Test, what: () => unknown): Promise<void> => {
    const before = lanCounters(topo);
    await what();
    await new Promise((r) => setTimeout(r, 300));
    t.same(lanCounters(topo), before, "the LAN host's ICMP, TCP and UDP receive counters did not move");
  };

  await t.test("routing straight to LAN addresses reaches nothing", async (t) =>
    unmoved(t, () => {
      t.match(
        topo.exec(topo.wan, ["sh", "-c", "ping -c 2 -W 1 192.168.0.2; echo exit $?"]),
        /exit 1\b/,
        "ping 192.168.0.2: no answer",
      );
      t.match(
        topo.exec(topo.wan, ["sh", "-c", "curl -sS --max-time 2 http://192.168.0.2:8080/ 2>&1; echo exit $?"]),
        /exit 28\b/,
        "curl to the LAN server times out (dropped, not refused)",
      );
      t.match(
        topo.exec(topo.wan, [
          "sh",
          "-c",
          `${NODE} ${join(PEERS, "udp-echo.js")} client 192.168.0.2 9999 hello 2>&1; echo exit $?`,
        ]),
        /no answer\nexit 1/,
        "UDP to the LAN host: no answer",
      );
    }),
  );

  await t.test("forged LAN sources are never masqueraded out", async (t) =>
    unmoved(t, async () => {
      // the exact tuple of the live flow, and other LAN sources, handed to the gateway (its MAC)
      // to forward back to the WAN host's sink: the reflector the gateway must not be
      const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
      scapy(
        topo,
        topo.wan,
        `
for sport in (40000, 40001, 53):
    for src in ("192.168.0.2", "192.168.0.77"):
        sendp(Ether(dst="${mac}")/IP(src=src, dst="10.0.0.2")/UDP(sport=sport, dport=9999)/b"forged", iface="wan0", verbose=0, count=5)
`,
      );
      await new Promise((r) => setTimeout(r, 500));
      t.same(
        received.lines().filter((l) => l.includes("forged")),
        [],
        "the sink got none of the 30 forged datagrams",
      );
      t.ok(drops().spoofed - (dropsBefore.spoofed ?? 0) >= 30, `counted as spoofed (${drops().spoofed})`);
    }),
  );

  await t.test("martian sources are dropped both ways", async (t) =>
    unmoved(t, async () => {
      const m0 = drops().martian ?? 0;
      scapy(
        topo,
        topo.wan,
        `send(IP(src="240.1.2.3", dst="192.168.0.2")/UDP(sport=5, dport=9999)/b"martian", verbose=0, count=3)`,
      );
      scapy(
        topo,
        topo.lan,
        `send(IP(src="240.1.2.4", dst="10.0.0.2")/UDP(sport=5, dport=9999)/b"martian", verbose=0, count=3)`,
      );
      // sources the kernel itself refuses before routing (loopback, this network, multicast, ours)
      scapy(
        topo,
        topo.wan,
        `
for src in ("127.0.0.1", "0.1.2.3", "224.0.0.5", "10.0.0.1"):
    send(IP(src=src, dst="192.168.0.2")/UDP(sport=5, dport=9999)/b"martian", verbose=0)
`,
      );
      await new Promise((r) => setTimeout(r, 500));
      t.ok(
        (drops().martian ?? 0) - m0 >= 6,
        `class E sources counted as martian from either side (${drops().martian})`,
      );
      t.same(
        received.lines().filter((l) => l.includes("martian")),
        [],
        "nothing martian went out",
      );
    }),
  );

  await t.test("NAT-PMP and PCP answer only the LAN", async (t) => {
    await unmoved(t, () => {
      for (const gw of ["192.168.0.1", "10.0.0.1"]) {
        // the kernel answers as for any closed port: the socket hears only the LAN device
        const pmp = topo.exec(topo.wan, ["sh", "-c", `timeout 5 natpmpc -g ${gw} -a 22 22 tcp 60 2>&1; echo exit $?`]);
        t.match(
          pmp,
          /readnatpmpresponseorretry\(\) failed : (Connection refused|the gateway does not support nat-pmp)|exit 124/i,
          `natpmpc from the WAN to ${gw}: refused, never answered`,
        );
        t.notMatch(pmp, /Mapped public port/, "no mapping offered");
        t.match(
          topo.exec(topo.wan, [
            "sh",
            "-c",
            `${NODE} ${join(PEERS, "pcp-client.js")} ${gw} 10.0.0.2 tcp 22 60 2>&1; echo exit $?`,
          ]),
          /no answer\nexit 1/,
          `PCP from the WAN to ${gw}: no answer`,
        );
      }
    });
    const conns = JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "conns", "--json", "--state-dir", state])) as Array<{
      state: string;
    }>;
    t.notOk(
      conns.some((c) => c.state === "MAPPED"),
      "no mapping was made",
    );
    t.match(
      topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45010", "45010", "udp", "60"]),
      /Mapped public port 45010/,
      "the LAN host still gets its mapping",
    );
    const third = JSON.parse(
      topo.exec(topo.lan, [
        NODE,
        join(PEERS, "pcp-client.js"),
        "192.168.0.1",
        "192.168.0.2",
        "tcp",
        "45020",
        "60",
        "192.168.0.9",
      ]),
    );
    t.equal(third.result, 2, "a PCP request for another host (THIRD_PARTY) is refused: NOT_AUTHORIZED");
  });

  await t.test("a port scan of the public address finds nothing open", async (t) =>
    unmoved(t, () => {
      const scan = topo.exec(
        topo.wan,
        ["nmap", "-Pn", "-n", "-T5", "-sT", "-p-", "--max-retries", "0", "-oG", "-", "10.0.0.1"],
        { timeout: 300_000 },
      );
      t.notMatch(scan, /\/open\//, "no TCP port open on 10.0.0.1");
      const udp = topo.exec(
        topo.wan,
        [
          "nmap",
          "-Pn",
          "-n",
          "-sU",
          "-p",
          "53,67,123,161,1900,5351,9100",
          "--max-retries",
          "1",
          "-oG",
          "-",
          "10.0.0.1",
        ],
        { timeout: 120_000 },
      );
      t.notMatch(
        udp,
        /\d+\/open\//,
        "none of the usual UDP services (NAT-PMP/PCP, metrics included) is open on 10.0.0.1",
      );
    }),
  );

  await t.test("a flood of unsolicited packets", async (t) => {
    await unmoved(t, () =>
      scapy(
        topo,
        topo.wan,
        `
send(IP(dst="10.0.0.1")/TCP(sport=RandShort(), dport=(32768, 33767), flags="S"), verbose=0)
send(IP(dst="10.0.0.1")/UDP(sport=RandShort(), dport=(50000, 50999))/b"x", verbose=0)  # ports no LAN host has mapped
send(IP(dst="192.168.0.2")/TCP(sport=RandShort(), dport=(1, 1000), flags="S"), verbose=0)
`,
      ),
    );
    t.match(
      topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.0.0.2"]),
      /1 received/,
      "and the gateway still forwards",
    );
  });

  await t.test("IPv6: the same host, the same abuse, routed instead of translated", async (t) => {
    await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "9998", "6"]));
    // a real IPv6 flow first (LAN6:40000 -> WAN6:9999), so that forgeries have one to abuse
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "send", WAN6, "9999", "real6", "40000"]);
    await new Promise((r) => setTimeout(r, 300));
    t.same(received6.lines(), [`from ${LAN6}:40000 real6`], "the WAN host sees the LAN host's own address");
    const d0 = drops();
    const more = (r: string): number => (drops()[r] ?? 0) - (d0[r] ?? 0);
    const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
    await unmoved(t, async () => {
      t.match(
        topo.exec(topo.wan, ["sh", "-c", `ping -6 -c 2 -W 1 ${LAN6}; echo exit $?`]),
        /exit 1\b/,
        "ping -6 to the LAN host: no answer",
      );
      t.match(
        topo.exec(topo.wan, ["sh", "-c", `curl -sS -6 --max-time 2 http://[${LAN6}]:8080/ 2>&1; echo exit $?`]),
        /exit 28\b/,
        "curl -6 to the LAN server times out (dropped, not refused)",
      );
      scapy(
        topo,
        topo.wan,
        `
e = Ether(dst="${mac}")
# the live flow's exact tuple and other LAN sources, to be reflected to the WAN host's sink
for sport in (40000, 40001):
    for src in ("${LAN6}", "2001:db8:1::77"):
        sendp(e/IPv6(src=src, dst="${WAN6}")/UDP(sport=sport, dport=9999)/b"forged6", iface="wan0", verbose=0, count=3)
# the reply half of the live flow, but to another LAN port
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/UDP(sport=9999, dport=9998)/b"stray6", iface="wan0", verbose=0, count=3)
# a martian source; a link-local source and multicast beyond the link (the kernel refuses these
# two before routing, so they never reach ipmasq: the LAN host's counters show nothing arrived)
sendp(e/IPv6(src="::ffff:10.9.9.9", dst="${LAN6}")/UDP(sport=5, dport=9998)/b"martian6", iface="wan0", verbose=0, count=3)
sendp(e/IPv6(src="fe80::66", dst="${LAN6}")/UDP(sport=5, dport=9998)/b"linklocal6", iface="wan0", verbose=0, count=3)
sendp(e/IPv6(src="${WAN6}", dst="ff0e::1")/UDP(sport=5, dport=9998)/b"multicast6", iface="wan0", verbose=0, count=3)
# a flood: SYNs to a thousand LAN ports, UDP to another thousand
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/TCP(sport=RandShort(), dport=(1, 1000), flags="S"), iface="wan0", verbose=0)
sendp(e/IPv6(src="${WAN6}", dst="${LAN6}")/UDP(sport=RandShort(), dport=(20000, 20999))/b"x", iface="wan0", verbose=0)
`,
      );
      await new Promise((r) => setTimeout(r, 500));
      t.same(
        received6.lines().filter((l) => l.includes("forged6")),
        [],
        "the sink got none of the 12 forged IPv6 datagrams",
      );
      t.ok(more("spoofed") >= 12, `counted as spoofed (${more("spoofed")})`);
      t.ok(more("martian") >= 3, `an IPv4-mapped source: martian (${more("martian")})`);
      t.ok(more("no_mapping") >= 2000, `the flood and the stray reply: no_mapping (${more("no_mapping")})`);
    });
    const scan = topo.exec(
      topo.wan,
      ["nmap", "-6", "-Pn", "-n", "-T5", "-sT", "-p-", "--max-retries", "0", "-oG", "-", GW_WAN6],
      { timeout: 300_000 },
    );
    t.notMatch(scan, /\/open\//, `no TCP port open on the gateway's IPv6 address ${GW_WAN6}`);
    const udp = topo.exec(
      topo.wan,
      [
        "nmap",
        "-6",
        "-Pn",
        "-n",
        "-sU",
        "-p",
        "53,67,123,161,547,1900,5351,9100",
        "--max-retries",
        "1",
        "-oG",
        "-",
        GW_WAN6,
      ],
      { timeout: 120_000 },
    );
    t.notMatch(udp, /\d+\/open\//, "nor any of the usual UDP services (DHCPv6 and NAT-PMP/PCP included)");
    t.match(
      topo.exec(topo.lan, ["ping", "-6", "-c", "1", "-W", "2", WAN6]),
      /1 received/,
      "and the gateway still forwards IPv6",
    );
  });

  await t.test("what listens", async (t) => {
    const listeners = topo
      .exec(topo.gw, ["ss", "-H", "-tuln"])
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/)[4]);
    t.same(
      listeners.sort(),
      ["0.0.0.0%eth1:5351", "127.0.0.1:9100", "[::]%eth1:5351"],
      "NAT-PMP/PCP on the LAN device only (IPv4 and IPv6), metrics on loopback, nothing else",
    );
    t.match(topo.exec(topo.gw, ["ss", "-H", "-xl"]), /control-net[^ ]*\.sock/, "the control socket is a UNIX socket");
    t.match(
      topo.exec(topo.gw, [
        "stat",
        "-c",
        "%a %U",
        ...topo
          .exec(topo.gw, ["sh", "-c", `ls ${state}/control-*.sock`])
          .trim()
          .split("\n"),
      ]),
      /^600 root$/m,
      "readable by root only",
    );
  });
});

t.test("the 2.2-era anti-spoofing rule: ipchains -A input -i eth0 -s 192.168.0.0/24 -j DENY", async (t) => {
  const topo = makeTopology("antispoof");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  topo.exec(topo.wan, ["ip", "route", "add", "192.168.0.0/24", "via", "10.0.0.1"]);
  const config =
    "ipchains -A input -i eth0 -s 192.168.0.0/24 -j DENY\nipchains -A input -i eth+ -s 192.168.0.0/24 -p udp -d 0/0 7 -j DENY\nipchains -A input -i ! eth1 -s 192.168.0.0/24 -j DENY\nipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n";
  // with our own reverse-path check off, the rule is what stands in the way
  const g = await startGateway(topo, ["--config", writeConfig(topo, config), "--spoof-check", "off"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const received = await sink(topo, 9999);
  const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
  scapy(
    topo,
    topo.wan,
    `sendp(Ether(dst="${mac}")/IP(src="192.168.0.2", dst="10.0.0.2")/UDP(sport=40000, dport=9999)/b"forged", iface="wan0", verbose=0, count=4)`,
  );
  topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "send", "10.0.0.2", "9999", "real", "40000"]);
  await new Promise((r) => setTimeout(r, 500));
  const rules = (
    JSON.parse(
      topo.exec(topo.gw, [NODE, BUNDLE, "ipchains", "-L", "input", "-v", "-n", "--json", "--state-dir", state]),
    ) as Array<{ rules: Array<{ packets: number }> }>
  )[0].rules;
  t.equal(rules[0].packets, 4, "-i eth0 matched the four forged packets that came in on eth0");
  t.equal(rules[1].packets, 0, "-i eth+ with another port matched none");
  t.equal(rules[2].packets, 0, "-i ! eth1: the LAN host's own packet (on eth1) is not matched");
  t.same(
    received.lines().map((l) => l.split(" ").pop()),
    ["real"],
    "only the LAN host's real datagram went out",
  );
});
