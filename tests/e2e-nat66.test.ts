// NAT66 end to end (-j MASQ with an IPv6 source): a line that gives the gateway one IPv6 address
// and no prefix, a LAN numbered from a unique local prefix (fd00:1::/64) behind it. The WAN sees
// the LAN host as the gateway's own address (curl byte-exact, UDP with its port kept, ping beyond
// the WAN link, a Packet Too Big from beyond it translated back, its quote too); the STUN
// client finds endpoint-independent mapping, the filtering --filtering says and hairpinning; the LAN's own
// address is not reachable from the WAN, nor is a public port nobody holds; the gateway itself
// still answers at its address. Every TCP, UDP and ICMPv6 checksum captured on both sides is
// right (scapy recomputes them) and no inside address shows on the WAN. Then the WAN's address
// changes: the old address's flows end, new ones leave from the new address.
import t from "tap";
import { join } from "node:path";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  outcome,
  scapy,
  until,
  SEED_CONFIG,
  GW_LAN6,
  GW_WAN6,
  LAN6,
  WAN6,
  FAR6,
} from "../harness/topology";
import { NODE, ipmasqCli } from "../harness/ipmasq-cli";
import { captureBothSides6 } from "../harness/captures6";
import { stunServer } from "../harness/stun-server";
import { vsftpd } from "../harness/ftp-server";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const INSIDE = "fd00:1::2",
  GW_INSIDE = "fd00:1::1",
  WAN6_ALT = "2001:db8:ff::3", // the STUN server's second address
  WAN6_OTHER = "2001:db8:ff::7", // WAN hosts the LAN never sent to
  WAN6_THIRD = "2001:db8:ff::8",
  GW_WAN6_NEW = "2001:db8:ff::9", // the gateway's address after the ISP changed it
  ROUTER_FAR = "2001:db8:f0::1"; // the WAN router's address on the far link (not on the WAN link)

t.test("NAT66: a unique local LAN behind the WAN's one address", async (t) => {
  const topo = makeTopology("nat66", { ipv6: true, far: true, farMtu: 1400 });
  t.teardown(() => topo.destroy());
  topo.exec(topo.lan, ["ip", "-6", "addr", "del", `${LAN6}/64`, "dev", "lan0"]);
  topo.exec(topo.lan, ["ip", "-6", "addr", "add", `${INSIDE}/64`, "dev", "lan0", "nodad"]);
  topo.exec(topo.lan, ["ip", "-6", "route", "replace", "default", "via", GW_INSIDE]);
  topo.exec(topo.gw, ["ip", "-6", "addr", "del", `${GW_LAN6}/64`, "dev", "eth1"]);
  topo.exec(topo.gw, ["ip", "-6", "addr", "add", `${GW_INSIDE}/64`, "dev", "eth1", "nodad"]);
  // a neighbour on the WAN link that routes the inside prefix at the gateway anyway
  topo.exec(topo.wan, ["ip", "-6", "route", "add", "fd00:1::/64", "via", GW_WAN6]);
  topo.exec(topo.wan, ["ip", "-6", "addr", "add", `${WAN6_ALT}/64`, "dev", "wan0", "nodad"]);
  for (const dev of ["eth0", "eth1"]) topo.exec(topo.gw, ["ethtool", "-K", dev, "tx", "off"]);

  const state = join(topo.dir, "state");
  const config = writeConfig(topo, `${SEED_CONFIG}ipchains -A forward -s fd00:1::/64 -j MASQ\n`);
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353", "6"]));
  await stunServer(topo, [WAN6, WAN6_ALT]);
  const captures = await captureBothSides6(topo);

  for (const filtering of ["address-dependent", "endpoint-independent"]) {
    const g = await startGateway(topo, ["--config", config, "--filtering", filtering], state);
    try {
      const stun = topo.exec(topo.lan, ["turnutils_natdiscovery", "-m", "-f", "-H", WAN6], { timeout: 60_000 });
      t.match(stun, new RegExp(`UDP reflexive addr: ${GW_WAN6}:`), `${filtering}: STUN sees the gateway's address`);
      t.match(stun, /NAT with Endpoint Independent Mapping!/, `${filtering}: endpoint-independent mapping`);
      t.match(
        stun,
        filtering === "address-dependent"
          ? /NAT with Address Dependent Filtering!/
          : /NAT with Endpoint Independent Filtering!/,
        `${filtering}: the filtering asked for`,
      );
      t.match(stun, /successful hairpinning/, `${filtering}: hairpinning`);
    } finally {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  }

  // (the WAN host's second address could answer the rest from the other: with address-dependent
  // filtering, rightly dropped)
  topo.exec(topo.wan, ["ip", "-6", "addr", "del", `${WAN6_ALT}/64`, "dev", "wan0"]);
  const g = await startGateway(topo, ["--config", config, "--pcp", "on"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  await until(() => g.log().includes(`masquerading (NAT66) as ${GW_WAN6}`));
  t.pass(`the log says NAT66 masquerades as ${GW_WAN6}`);

  const n = 20_000_000;
  const got = topo.exec(topo.lan, [
    "sh",
    "-c",
    `curl -sS -6 -D - -o /tmp/ipmasq-nat66-$$ 'http://[${WAN6}]:8080/bytes?n=${n}&seed=6' && sha256sum /tmp/ipmasq-nat66-$$; rm -f /tmp/ipmasq-nat66-$$`,
  ]);
  t.match(got, new RegExp(`x-seen-from: ${GW_WAN6}\\s`, "i"), `the WAN server sees the LAN host as ${GW_WAN6}`);
  t.match(got, new RegExp(`^${sha256Of(n, 6)} `, "m"), "20 MB arrive byte-exact");
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "hi", "45000"]),
    new RegExp(`^seen ${GW_WAN6}:45000 hi`),
    "UDP: the gateway's address, the port kept",
  );
  // a datagram bigger than the link, both ways: fragments, translated (the first) and let through
  // its datagram's gate (the rest)
  const pattern = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 8)) & 255));
  t.equal(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "bytes:3000", "45002"]).trim(),
    `seen ${GW_WAN6}:45002 3000 bytes sha256 ${sha(pattern)}`,
    "UDP of 3000 bytes, fragmented both ways: from the gateway's address, back whole",
  );
  // (ICMPv6 from the WAN link's own neighbours stays the kernel's: neighbour discovery is among it)
  t.match(
    topo.exec(topo.lan, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", FAR6]),
    /2 received/,
    "ping -6 beyond the WAN link",
  );
  const lanSees = topo.spawn(topo.lan, ["tcpdump", "-n", "-l", "-c", "1", "-i", "lan0", "icmp6 and ip6[40] == 2"]);
  let ptb = "";
  lanSees.stdout!.on("data", (d) => (ptb += d));
  lanSees.stderr!.on("data", (d) => (ptb += d));
  await until(() => ptb.includes("listening on"));
  scapy(
    topo,
    topo.wan,
    `send(IPv6(src="${ROUTER_FAR}", dst="${GW_WAN6}")/ICMPv6PacketTooBig(mtu=1280)/IPv6(src="${GW_WAN6}", dst="${WAN6}")/UDP(sport=45000, dport=5353)/(b"x" * 1300), verbose=0)`,
  );
  await until(() => ptb.includes("packet too big"));
  t.match(
    ptb,
    new RegExp(`${ROUTER_FAR} > ${INSIDE}: ICMP6, packet too big, mtu 1280`),
    "a Packet Too Big from beyond the WAN link about the UDP flow reaches the LAN host",
  );
  const conns = ipmasq("conns");
  t.match(conns, `[${INSIDE}]:`, "ipmasq conns: the LAN end");
  t.match(conns, `[${GW_WAN6}]:`, "and its public end");

  // from the WAN: the gateway itself still answers; the LAN host's own address, and a public port
  // nobody holds, do not
  t.match(topo.exec(topo.wan, ["ping", "-6", "-c", "1", "-W", "2", GW_WAN6]), /1 received/, "the gateway answers ping");
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8081"]));
  const curl = (addr: string, port: number, from = WAN6): number =>
    outcome(() =>
      topo.exec(topo.wan, [
        "curl",
        "-sS",
        "-6",
        "-o",
        "/dev/null",
        "--max-time",
        "2",
        "--interface",
        from,
        `http://[${addr}]:${port}/`,
      ]),
    ).code;
  t.equal(curl(INSIDE, 8081), 28, "the LAN host's own address from the WAN: nothing (curl times out)");
  t.equal(curl(GW_WAN6, 40123), 28, "a public port nobody holds: nothing, not even a reset");
  const drops0 = (JSON.parse(ipmasq("status", "--json")) as { drops: Record<string, number> }).drops.no_mapping ?? 0;
  scapy(
    topo,
    topo.wan,
    `send(IPv6(src="${WAN6}", dst="${INSIDE}")/UDP(sport=53, dport=45000)/b"x", count=3, verbose=0)`,
  );
  await until(
    () =>
      ((JSON.parse(ipmasq("status", "--json")) as { drops: Record<string, number> }).drops.no_mapping ?? 0) >=
      drops0 + 3,
  );
  t.pass("a datagram straight to the LAN end of a live mapping: dropped and counted (no_mapping)");

  // PCP under NAT66: a mapping at the masquerade address, reachable from the WAN, then deleted
  // (from a WAN address the LAN server never answered: address-dependent filtering would let
  // the first one back in by the flow it had)
  for (const a of [WAN6_OTHER, WAN6_THIRD])
    topo.exec(topo.wan, ["ip", "-6", "addr", "add", `${a}/64`, "dev", "wan0", "nodad", "preferred_lft", "0"]);
  const pcp = (...args: string[]): { result: number; externalAddress: string; externalPort: number } =>
    JSON.parse(topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), GW_INSIDE, INSIDE, ...args]));
  const m = pcp("tcp", "8081", "60");
  t.match(m, { result: 0, externalAddress: GW_WAN6 }, `PCP MAP: the masquerade address, public port ${m.externalPort}`);
  await until(() => g.log().includes(`PCP: tcp [${INSIDE}]:8081 mapped at [${GW_WAN6}]:${m.externalPort} for 60 s`));
  t.equal(curl(GW_WAN6, m.externalPort, WAN6_OTHER), 0, "the WAN reaches the LAN server at that public port");
  t.ok(
    (JSON.parse(ipmasq("conns", "--json")) as Array<{ state: string; public: string }>).some(
      (c) => c.state === "MAPPED" && c.public === `[${GW_WAN6}]:${m.externalPort}`,
    ),
    "conns lists the mapping with its public end",
  );
  t.match(pcp("tcp", "8081", "0"), { result: 0 }, "deleted");
  t.equal(curl(GW_WAN6, m.externalPort, WAN6_THIRD), 28, "and closed again to a host that had no flow");
  const kept = pcp("tcp", "8081", "120"); // one the restart below carries

  await captures.stop();
  captures.check(t, "fd00:");

  // a graceful restart carries the NAT66 flows with their public ports: a paced download goes on
  const dn = 6_000_000;
  const dl = topo.spawn(topo.lan, [
    "sh",
    "-c",
    `curl -sS -6 'http://[${WAN6}]:8080/bytes?n=${dn}&seed=9&rate=1000000' | sha256sum | cut -d' ' -f1`,
  ]);
  let sum = "";
  dl.stdout!.on("data", (d) => (sum += d));
  const flowOf = (): string | undefined =>
    ipmasq("conns")
      .split("\n")
      .find((l) => l.includes(`[${WAN6}]:8080`) && l.includes("ESTABLISHED"));
  await until(() => flowOf() !== undefined);
  const before = flowOf()!.split(/\s+/)[4]; // its public end
  const pid = JSON.parse(ipmasq("status", "--json")).pid;
  ipmasq("restart");
  await until(() => {
    const r = outcome(() => ipmasq("status", "--json"));
    return r.code === 0 && JSON.parse(r.out).pid !== pid;
  }, 20_000);
  await until(() => /took over/.test(g.log()));
  t.equal(flowOf()?.split(/\s+/)[4], before, `the download's flow taken over with its public end (${before})`);
  topo.exec(topo.wan, ["curl", "-sS", "http://127.0.0.1:8080/rate?r=0"]);
  await until(() => sum.trim() !== "", 30_000);
  t.equal(sum.trim(), sha256Of(dn, 9), "6 MB across the restart, byte-exact");
  t.ok(
    (JSON.parse(ipmasq("conns", "--json")) as Array<{ state: string; public: string }>).some(
      (c) => c.state === "MAPPED" && c.public === `[${GW_WAN6}]:${kept.externalPort}`,
    ),
    "the PCP mapping taken over with its public port",
  );
  t.equal(curl(GW_WAN6, kept.externalPort, WAN6_THIRD), 0, "and open to the WAN");
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "hi", "45000"]),
    new RegExp(`^seen ${GW_WAN6}:45000 hi`),
    "the UDP flow's mapping too",
  );

  // FTP: active mode names the LAN host's address in EPRT, which the helper rewrites; passive
  // (EPSV) names none
  const root = join(topo.dir, "ftproot");
  mkdirSync(root, { mode: 0o755 });
  const file = randomBytes(2 * 1024 * 1024 + 77);
  writeFileSync(join(root, "file.bin"), file);
  vsftpd(topo, topo.wan, root, "wan6", true);
  await until(() => topo.exec(topo.wan, ["ss", "-Hltn", "sport = :21"]).trim() !== "");
  for (const [mode, args] of [
    ["active, EPRT", ["--ftp-port", "-"]],
    ["passive, EPSV", []],
  ] as const) {
    const out = join(topo.dir, `ftp-${mode.replace(/\W+/g, "-")}`);
    topo.exec(topo.lan, ["curl", "-sS", "-6", "--max-time", "20", ...args, "-o", out, `ftp://[${WAN6}]/file.bin`]);
    t.equal(sha(readFileSync(out)), sha(file), `FTP over NAT66, ${mode}: 2 MB byte-exact`);
  }

  // the ISP changes the address: the old one's flows end, new ones leave from the new one
  topo.exec(topo.gw, ["ip", "-6", "addr", "add", `${GW_WAN6_NEW}/64`, "dev", "eth0", "nodad"]);
  topo.exec(topo.gw, ["ip", "-6", "addr", "del", `${GW_WAN6}/64`, "dev", "eth0"]);
  await until(() => g.log().includes(`the WAN's address moved from ${GW_WAN6}`));
  t.match(
    g.log(),
    new RegExp(`the WAN's address moved from ${GW_WAN6}: \\d+ NAT66 flows? ended`),
    "the old address's flows end",
  );
  t.notMatch(ipmasq("conns"), `[${GW_WAN6}]:`, "none is left");
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "again", "45001"]),
    new RegExp(`^seen ${GW_WAN6_NEW}:45001 again`),
    `a new flow leaves from ${GW_WAN6_NEW}`,
  );
});
