// Protocol behaviour end to end, through a router namespace beyond the WAN (10.1.0.0/24, MTU 1400):
// traceroute in UDP, ICMP and TCP modes sees every hop; path-MTU discovery works through the
// gateway; 8000-byte UDP datagrams (fragmented) cross both ways; no ICMP ends a mapping.
import t from "tap";
import { join } from "node:path";
import { createHash } from "node:crypto";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  snmp,
  until,
  outcome,
  scapy,
  LAN6,
  WAN6,
} from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";
import { stunServer } from "../harness/stun-server";

const PEERS = join(__dirname, "peers");
const WAN6_ALT = "2001:db8:ff::3"; // the STUN server's second address

const hops = (out: string): string[] =>
  out
    .split("\n")
    .slice(1)
    .filter((l) => /^\s*\d+/.test(l))
    .map((l) => l.trim().split(/\s+/)[1]);

t.test("protocols", async (t) => {
  const topo = makeTopology("pro", { far: true, farMtu: 1400 });
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.far, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(topo.spawn(topo.far, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo)], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });

  for (const [mode, args] of [
    ["UDP", []],
    ["ICMP", ["-I"]],
    ["TCP", ["-T", "-p", "8080"]],
  ] as const) {
    const out = topo.exec(topo.lan, ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", ...args, "10.1.0.2"], {
      timeout: 60_000,
    });
    t.same(
      hops(out),
      ["192.168.0.1", "10.0.0.2", "10.1.0.2"],
      `traceroute (${mode}) shows the gateway, the router and the host`,
    );
  }

  const ping = (() => {
    try {
      return topo.exec(topo.lan, ["ping", "-M", "do", "-s", "1472", "-c", "2", "-i", "0.3", "10.1.0.2"]);
    } catch (e) {
      return String((e as { stdout: string }).stdout);
    }
  })();
  t.match(
    ping,
    /mtu = 1400/,
    "a DF packet too big for the far link: the router's 'fragmentation needed' reaches the LAN host",
  );
  const up = JSON.parse(
    topo.exec(topo.lan, [
      "sh",
      "-c",
      "head -c 3000000 /dev/zero | curl -sS --max-time 20 --data-binary @- http://10.1.0.2:8080/upload",
    ]),
  );
  t.same([up.bytes, up.from], [3000000, "10.0.0.1"], "a 3 MB upload finds the path MTU through the gateway");
  t.match(topo.exec(topo.lan, ["ip", "route", "get", "10.1.0.2"]), /mtu 1400/, "the LAN host learned the path MTU");

  const big = topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.1.0.2", "5353", "bytes:8000"]);
  t.match(
    big,
    /^seen 10\.0\.0\.1:\d+ 8000 bytes sha256 /,
    "8000-byte UDP datagrams cross both ways (fragmented, reassembled, translated)",
  );
  const pattern = Buffer.from(Array.from({ length: 8000 }, (_, i) => (i * 7 + (i >> 8)) & 255)); // udp-echo.js's bytes:N
  t.match(
    big,
    new RegExp(`sha256 ${createHash("sha256").update(pattern).digest("hex")}`),
    "byte-exact, in order (the payload never repeats)",
  );

  // reassembly is bounded: first fragments of 100 datagrams that never complete fill a worker's
  // 64 places; the rest are refused and counted, and whole packets go on as before
  const fragDrops = (): number =>
    JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "status", "--json", "--state-dir", state])).drops.fragment ?? 0;
  const dropsBefore = fragDrops();
  scapy(
    topo,
    topo.lan,
    `send([IP(src="192.168.0.2", dst="10.1.0.2", id=3000 + i, flags="MF")/UDP(sport=7000, dport=9)/(b"x" * 64) for i in range(100)], verbose=0)`,
  );
  await until(() => fragDrops() - dropsBefore >= 100 - 64);
  t.pass(
    `of 100 incomplete datagrams, ${fragDrops() - dropsBefore} were refused once the reassembly places were full (at most 64 held per worker)`,
  );
  t.match(
    topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.1.0.2"]),
    /1 received/,
    "unfragmented traffic is unaffected",
  );

  // an ICMP error about a flow does not end it (RFC 4787 REQ-12, RFC 5382 REQ-10): the error
  // must first be shown to arrive — a connected socket hears it, and the LAN host counts it
  const unreach = snmp(topo, topo.lan)["Icmp.InDestUnreachs"];
  const refused = outcome(() =>
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "connected", "10.1.0.2", "9", "anyone?", "45001"]),
  );
  t.same(
    [refused.code, refused.out.trim()],
    [2, "refused"],
    "a closed port's port unreachable reaches the LAN application, translated back",
  );
  t.ok(snmp(topo, topo.lan)["Icmp.InDestUnreachs"] > unreach, "and the LAN host counted a destination unreachable");
  const conns = JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "conns", "--json", "--state-dir", state]));
  t.ok(
    conns.some((c: { lan: string; remote: string }) => c.lan === "192.168.0.2:45001" && c.remote === "10.1.0.2:9"),
    "the mapping survives the ICMP error",
  );
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.1.0.2", "5353", "again", "45001"]),
    /^seen 10\.0\.0\.1:45001 again/,
    "and keeps its public port for the next datagram",
  );
});

t.test("TCP simultaneous open through the gateway (RFC 5382 REQ-2)", async (t) => {
  const topo = makeTopology("simo");
  t.teardown(() => topo.destroy());
  const g = await startGateway(topo, ["--config", writeConfig(topo)], join(topo.dir, "state"));
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  // neither end listens: a connection forms only when the two SYNs cross
  const wan = topo.spawn(topo.wan, [
    "/usr/bin/python3",
    join(PEERS, "simopen.py"),
    "10.0.0.1",
    "45100",
    "45200",
    "from-wan",
  ]);
  let wanOut = "";
  wan.stdout!.on("data", (d) => {
    wanOut += d;
  });
  const wanDone = new Promise((r) => wan.on("exit", r));
  const lan = topo.exec(
    topo.lan,
    ["/usr/bin/python3", join(PEERS, "simopen.py"), "10.0.0.2", "45200", "45100", "from-lan"],
    { timeout: 30_000 },
  );
  await wanDone;
  t.equal(lan.trim(), "connected 10.0.0.2 from-wan", "the LAN end connected, and got the WAN end's line");
  t.equal(
    wanOut.trim(),
    "connected 10.0.0.1 from-lan",
    "the WAN end connected to the public address:port, and got the LAN end's line",
  );
});

// IPv6 is routed, not translated, but its filtering is the same option (RFC 6092 REC-11, 17, 33):
// the same STUN client measures it through the same gateway.
t.test("NAT behaviour (RFC 4787 / 5382): mapping, filtering, hairpinning, port preservation", async (t) => {
  const topo = makeTopology("nat", { ipv6: true });
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  topo.exec(topo.wan, ["ip", "addr", "add", "10.0.0.3/24", "dev", "wan0"]);
  topo.exec(topo.wan, ["ip", "addr", "add", `${WAN6_ALT}/64`, "dev", "wan0", "nodad"]);
  await stunServer(topo, ["10.0.0.2", "10.0.0.3", WAN6, WAN6_ALT]);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
  for (const filtering of ["address-dependent", "endpoint-independent"]) {
    const g = await startGateway(topo, ["--config", writeConfig(topo), "--filtering", filtering], state);
    try {
      const out = topo.exec(topo.lan, ["turnutils_natdiscovery", "-m", "-f", "-H", "10.0.0.2"], { timeout: 60_000 });
      t.match(
        out,
        /NAT with Endpoint Independent Mapping!/,
        `${filtering}: natdiscovery finds endpoint-independent mapping`,
      );
      t.match(
        out,
        filtering === "address-dependent"
          ? /NAT with Address Dependent Filtering!/
          : /NAT with Endpoint Independent Filtering!/,
        `${filtering}: natdiscovery finds the configured filtering`,
      );
      t.match(out, /successful hairpinning/, `${filtering}: natdiscovery finds hairpinning`);
      const out6 = topo.exec(topo.lan, ["turnutils_natdiscovery", "-m", "-f", WAN6], { timeout: 60_000 });
      t.match(out6, new RegExp(`UDP reflexive addr: ${LAN6}:`), `${filtering}: IPv6 is not translated`);
      t.match(
        out6,
        filtering === "address-dependent"
          ? /NAT with Address Dependent Filtering!/
          : /NAT with Endpoint Independent Filtering!/,
        `${filtering}: natdiscovery finds the same filtering over IPv6`,
      );
      t.match(
        topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "hi", "45002"]),
        /^seen 10\.0\.0\.1:45002 hi/,
        "a free source port is preserved",
      );
      const code = (() => {
        try {
          topo.exec(topo.wan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:40000/"]);
          return 0;
        } catch (e) {
          return (e as { status: number }).status;
        }
      })();
      t.equal(code, 28, "an unsolicited inbound SYN to a NAT port gets no reply at all (curl times out, no RST)");
    } finally {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  }
});

t.test("a full table: existing flows go on, a new one gets ICMP administratively prohibited", async (t) => {
  const topo = makeTopology("full");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo), "--max-conns", "16"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  for (let i = 0; i < 16; i++)
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "fill", String(46000 + i)]);
  const ping = (() => {
    try {
      return topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.0.0.2"]);
    } catch (e) {
      return String((e as { stdout: string }).stdout);
    }
  })();
  t.match(
    ping,
    /From 192\.168\.0\.1 icmp_seq=1 Packet filtered/,
    "the 17th flow is refused with ICMP type 3 code 13 from the gateway",
  );
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "still", "46003"]),
    /^seen 10\.0\.0\.1:46003 still/,
    "an existing flow is unaffected",
  );
  const st = JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "status", "--json", "--state-dir", state]));
  t.ok(st.tableFullDrops >= 1 && st.drops.table_full >= 1, `the refusals are counted (${st.tableFullDrops})`);
  t.equal(st.connections, 16);
  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  const big = await startGateway(topo, ["--config", writeConfig(topo), "--max-conns", "1000000"], state);
  try {
    t.match(
      topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.0.0.2"]),
      /1 received/,
      "--max-conns 1000000 starts and forwards",
    );
    t.equal(
      JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "status", "--json", "--state-dir", state])).maxConns,
      1_000_000,
    );
  } finally {
    big.proc.kill("SIGTERM");
    await waitExit(big.proc);
  }
});

t.test("MSS clamping for PPPoE-style links: the server sees the clamped MSS", async (t) => {
  const topo = makeTopology("mss");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  for (const [clamp, mss] of [
    ["0", 1448],
    ["1400", 1388],
  ] as const) {
    const g = await startGateway(topo, ["--config", writeConfig(topo), "--mss-clamp", clamp], state);
    try {
      const curl = topo.spawn(topo.lan, [
        "curl",
        "-sS",
        "--limit-rate",
        "100K",
        "-o",
        "/dev/null",
        "http://10.0.0.2:8080/bytes?n=1000000&seed=1",
      ]);
      let curlErr = "";
      curl.stderr!.on("data", (d) => {
        curlErr += d;
      });
      let ss = "";
      await until(
        () => /mss:\d+/.test((ss = topo.exec(topo.wan, ["ss", "-tin", "sport", "= :8080"]))) || curl.exitCode !== null,
        20_000,
      ).catch(() => undefined);
      if (!/mss:\d+/.test(ss))
        t.comment(
          `no connection seen: curl ${curl.exitCode === null ? "still running" : `exited ${curl.exitCode}`} ${curlErr}; gateway log:\n${g.log()}`,
        );
      t.match(
        ss,
        new RegExp(`\\bmss:${mss}\\b`),
        clamp === "0"
          ? "without clamping the server sends 1448-byte segments"
          : "with --mss-clamp 1400 the server's segments fit 1400 (1388 + timestamps)",
      );
      curl.kill();
    } finally {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  }
});
