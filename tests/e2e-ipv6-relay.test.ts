// A line that gives one /64 on the WAN and no delegation, relayed (docs/ipv6.md, case 2): the /64
// moves to the LAN interface, the WAN keeps only its link-local address and a default route by
// it, and Debian's ndppd, with docs/ipv6/ndppd.conf, answers the ISP router's neighbour
// solicitations for the LAN hosts. ipmasq routes and filters as for a delegated prefix: the LAN
// host reaches beyond the ISP with its own address (curl byte-exact, the far server sees it), the
// ISP router learned it at the gateway's link-layer address, and from outside only the port a
// rule opens answers.
import t from "tap";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  outcome,
  until,
  SEED_CONFIG,
  GW_LAN6,
  GW_WAN6,
  LAN6,
  FAR6,
} from "../harness/topology";
import { NODE, ipmasqCli } from "../harness/ipmasq-cli";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");
const WAN64 = "2001:db8:ff::/64",
  HOST = "2001:db8:ff::100", // the LAN host, numbered from the WAN's /64
  ROUTER_LL = "fe80::2"; // the ISP router, reached by its link-local address

t.test("the WAN's /64 relayed to the LAN with ndppd", async (t) => {
  const topo = makeTopology("relay", { ipv6: true, far: true });
  t.teardown(() => topo.destroy());
  const x = (ns: string, ...a: string[]): string => topo.exec(ns, a);
  // the /64 leaves the WAN for the LAN; the default route by the router's link-local address
  x(topo.gw, "ip", "-6", "addr", "del", `${GW_WAN6}/64`, "dev", "eth0");
  x(topo.gw, "ip", "-6", "addr", "del", `${GW_LAN6}/64`, "dev", "eth1");
  x(topo.gw, "ip", "-6", "addr", "add", `${GW_WAN6}/64`, "dev", "eth1", "nodad");
  x(topo.wan, "ip", "-6", "addr", "add", `${ROUTER_LL}/64`, "dev", "wan0", "nodad");
  x(topo.gw, "ip", "-6", "route", "replace", "default", "via", ROUTER_LL, "dev", "eth0");
  x(topo.lan, "ip", "-6", "addr", "del", `${LAN6}/64`, "dev", "lan0");
  x(topo.lan, "ip", "-6", "addr", "add", `${HOST}/64`, "dev", "lan0", "nodad");
  x(topo.lan, "ip", "-6", "route", "replace", "default", "via", GW_WAN6);
  const conf = join(topo.dir, "ndppd.conf");
  writeFileSync(conf, readFileSync(join(__dirname, "..", "docs", "ipv6", "ndppd.conf")));
  const ndppd = topo.spawn(topo.gw, ["ndppd", "-c", conf, "-p", join(topo.dir, "ndppd.pid")]);
  let ndppdSaid = "";
  ndppd.stderr!.on("data", (d) => (ndppdSaid += d));
  ndppd.stdout!.on("data", (d) => (ndppdSaid += d));

  const state = join(topo.dir, "state");
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  await waitListening(topo.spawn(topo.far, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8081"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8082"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo, SEED_CONFIG)], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  t.match(
    ipmasq("status"),
    new RegExp(`IPv6 prefixes: eth1 ${WAN64.replace("/", "\\/")}`),
    "the /64 is the LAN's prefix",
  );

  const n = 5_000_000;
  const got = x(
    topo.lan,
    "sh",
    "-c",
    `curl -sS -6 -D - -o /tmp/ipmasq-relay-$$ 'http://[${FAR6}]:8080/bytes?n=${n}&seed=3' && sha256sum /tmp/ipmasq-relay-$$; rm -f /tmp/ipmasq-relay-$$`,
  );
  t.match(got, new RegExp(`x-seen-from: ${HOST}\\s`, "i"), "the far server sees the LAN host's own address");
  t.match(got, new RegExp(`^${sha256Of(n, 3)} `, "m"), "5 MB arrive byte-exact");
  const gwMac = x(topo.gw, "cat", "/sys/class/net/eth0/address").trim();
  await until(() => x(topo.wan, "ip", "-6", "neigh", "show", HOST, "dev", "wan0").includes(gwMac));
  t.pass(`the ISP router reaches ${HOST} at the gateway's link-layer address (ndppd answered)`);

  // from outside: the port a rule opens, nothing else
  ipmasq("ipchains", "-A", "forward", "-p", "tcp", "-d", HOST, "8081", "-j", "ACCEPT");
  const fromFar = (port: number): number =>
    outcome(() =>
      x(topo.far, "curl", "-sS", "-6", "-o", "/dev/null", "--max-time", "2", `http://[${HOST}]:${port}/bytes?n=10`),
    ).code;
  t.equal(fromFar(8081), 0, "the opened port answers from beyond the ISP");
  t.equal(fromFar(8082), 28, "another does not (curl times out)");
  t.notMatch(ndppdSaid, /error|fatal/i, "ndppd said nothing wrong");
});
