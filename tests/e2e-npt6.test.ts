// NPTv6 end to end (RFC 6296, --npt6): the LAN is numbered from a unique local prefix
// (fd00:1::/64) and the ISP routes 2001:db8:1::/64 to the gateway, which maps one onto the other.
// The WAN sees the LAN host by its outside address (curl byte-exact, UDP, ping, path MTU
// discovery through a 1400-byte link: Packet Too Big mapped back, its quoted packet too); a rule
// naming the inside address opens one LAN port by its outside address, and only that; a packet
// from the WAN straight to an inside address is refused (npt). Every TCP, UDP and ICMPv6 checksum
// captured on both sides is right (scapy recomputes them) and no inside address shows on the WAN.
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
import { parseAddr6, formatAddr6 } from "../host/net/addr6";
import { parseNpt6, npt6Out } from "../host/net/npt6";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");
const MAPPING = "fd00:1::/64=2001:db8:1::/64";
const INSIDE = "fd00:1::2",
  GW_INSIDE = "fd00:1::1";
const OUTSIDE = (() => {
  const a = parseAddr6(INSIDE);
  npt6Out(parseNpt6(MAPPING), a, 0);
  return formatAddr6(a);
})();

t.test("NPTv6: a unique local LAN behind a routed prefix", async (t) => {
  const topo = makeTopology("npt", { ipv6: true, far: true, farMtu: 1400 });
  t.teardown(() => topo.destroy());
  // the LAN renumbered from fd00:1::/64; the ISP still routes 2001:db8:1::/64 to the gateway
  topo.exec(topo.lan, ["ip", "-6", "addr", "del", `${LAN6}/64`, "dev", "lan0"]);
  topo.exec(topo.lan, ["ip", "-6", "addr", "add", `${INSIDE}/64`, "dev", "lan0", "nodad"]);
  topo.exec(topo.lan, ["ip", "-6", "route", "replace", "default", "via", GW_INSIDE]);
  topo.exec(topo.gw, ["ip", "-6", "addr", "del", `${GW_LAN6}/64`, "dev", "eth1"]);
  topo.exec(topo.gw, ["ip", "-6", "addr", "add", `${GW_INSIDE}/64`, "dev", "eth1", "nodad"]);
  // a WAN host that could reach the inside prefix directly, as a neighbour on the WAN link can
  topo.exec(topo.wan, ["ip", "-6", "route", "add", "fd00:1::/64", "via", GW_WAN6]);
  // checksums computed in software on the way out of the gateway: a capture shows what is sent
  for (const dev of ["eth0", "eth1"]) topo.exec(topo.gw, ["ethtool", "-K", dev, "tx", "off"]);

  const state = join(topo.dir, "state");
  const config = writeConfig(topo, `${SEED_CONFIG}ipchains -A forward -p tcp -d ${INSIDE} 8081 -j ACCEPT\n`);
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353", "6"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8081"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8082"]));
  const captures = await captureBothSides6(topo);
  const g = await startGateway(topo, ["--config", config, "--npt6", MAPPING], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  t.match(g.log(), /NPTv6: fd00:1::\/64 leaves by the WAN as 2001:db8:1::\/64/, "the log says the mapping");

  const n = 20_000_000;
  const got = topo.exec(topo.lan, [
    "sh",
    "-c",
    `curl -sS -6 -D - -o /tmp/ipmasq-npt-$$ 'http://[${WAN6}]:8080/bytes?n=${n}&seed=4' && sha256sum /tmp/ipmasq-npt-$$; rm -f /tmp/ipmasq-npt-$$`,
  ]);
  t.match(got, new RegExp(`x-seen-from: ${OUTSIDE}\\s`, "i"), `the WAN server sees the LAN host as ${OUTSIDE}`);
  t.match(got, new RegExp(`^${sha256Of(n, 4)} `, "m"), "20 MB arrive byte-exact");
  t.match(
    topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "hi", "45000"]),
    new RegExp(`^seen ${OUTSIDE}:45000 hi`),
    "UDP: the same outside address, the port unchanged",
  );
  t.match(topo.exec(topo.lan, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", WAN6]), /2 received/, "ping -6");
  const tp = topo.exec(topo.lan, ["tracepath", "-6", "-n", FAR6], { timeout: 60_000 });
  t.match(tp, /pmtu 1400/, "tracepath -6 learns the 1400-byte link: Packet Too Big comes back through the mapping");
  t.match(ipmasq("conns"), `[${INSIDE}]:`, "the table knows the flows by their inside address");

  // from the WAN: the opened port by the outside address, and nothing else
  const fromWan = (addr: string, port: number): { code: number; out: string } =>
    outcome(() =>
      topo.exec(topo.wan, [
        "curl",
        "-sS",
        "-6",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--max-time",
        "2",
        `http://[${addr}]:${port}/bytes?n=10`,
      ]),
    );
  const open = fromWan(OUTSIDE, 8081);
  t.equal(open.code, 0, "the rule's port answers at the outside address");
  t.match(open.out, new RegExp(`x-seen-from: ${WAN6}\\s`, "i"), "the LAN server sees the WAN host's own address");
  t.equal(fromWan(OUTSIDE, 8082).code, 28, "another port does not (curl times out)");
  const npt0 = (JSON.parse(ipmasq("status", "--json")) as { drops: Record<string, number> }).drops.npt ?? 0;
  t.equal(fromWan(INSIDE, 8081).code, 28, "the inside address straight from the WAN: nothing, even on the open port");
  scapy(
    topo,
    topo.wan,
    `send(IPv6(src="${WAN6}", dst="${INSIDE}")/UDP(sport=53, dport=5353)/b"x", count=3, verbose=0)`,
  );
  await until(
    () => ((JSON.parse(ipmasq("status", "--json")) as { drops: Record<string, number> }).drops.npt ?? 0) >= npt0 + 4,
  );
  t.pass("and counted as npt");

  await captures.stop();
  captures.check(t, "fd00:");
});
