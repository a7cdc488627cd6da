// IPv6 from the ISP, end to end, with the programs a home router runs (harness/isp-lab.ts): the
// ISP's kea-dhcp6-server delegates a /56 and its radvd numbers the WAN; the gateway's dhcpcd and
// dnsmasq run with the configurations docs/ipv6.md gives; the LAN host numbers itself by SLAAC.
// ipmasq, started before any of it with the seed's two lines, says the LAN has no prefix, then
// follows it: the LAN host reaches the WAN with its own address. The ISP then hands out another
// /56: the LAN renumbers, the old prefix is advertised deprecated (RFC 9096), its flows end
// (prefix-change), nothing from it reaches the WAN (tcpdump there), new connections leave from
// the new prefix.
import t from "tap";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { startGateway, waitExit, waitListening, writeConfig, until, outcome, sleep } from "../harness/topology";
import { makeIspLab, WAN6 } from "../harness/isp-lab";
import { NODE, BUNDLE, ipmasqCli } from "../harness/ipmasq-cli";
import { parseAddr6, parsePrefix6, inPrefix6 } from "../host/net/addr6";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");
const FIRST = "2001:db8:100::/56",
  SECOND = "2001:db8:200::/56";
const within = (a: string, p: string): boolean => inPrefix6(parseAddr6(a), parsePrefix6(p));

t.test("IPv6 from the ISP: a delegated prefix, followed through a renumbering", async (t) => {
  const lab = makeIspLab("isp");
  t.teardown(() => {
    // a failure shows what the daemons said (CI keeps only the TAP output)
    if (!t.passing())
      for (const d of ["kea", "radvd", "dhcpcd", "dnsmasq"] as const)
        t.comment(`${d} said (its last 40 lines):\n${lab.log(d).split("\n").slice(-40).join("\n")}`);
    lab.destroy();
  });
  const state = join(lab.dir, "state");
  const eventLog = join(lab.dir, "events.log");
  const ipmasq = ipmasqCli(lab.exec, lab.gw, state);
  lab.delegateFrom("2001:db8:100::");
  await lab.startIsp();
  await waitListening(lab.spawn(lab.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(lab.spawn(lab.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353", "6"]));
  const g = await startGateway(
    lab,
    ["--config", writeConfig(lab), "--log-events", eventLog, "--metrics", "9100"],
    state,
  );
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });

  t.match(
    ipmasq("status"),
    /IPv6: no LAN interface has a global prefix/,
    "before the delegation, status says the LAN has no IPv6 prefix",
  );
  t.match(
    lab.exec(lab.gw, ["sh", "-c", `${NODE} ${BUNDLE} check ${writeConfig(lab)} 2>&1`]),
    /the LAN interface eth1 has no global IPv6 prefix/,
    "and so does check",
  );

  lab.startDhcpcd();
  lab.startDnsmasq();
  await until(() => lab.addrs6(lab.gw, "eth1").some((a) => within(a.addr, FIRST)), 30_000);
  const lanAddr = async (prefix: string): Promise<string> => {
    let found = "";
    await until(() => {
      found = lab.addrs6(lab.lan, "lan0").find((a) => within(a.addr, prefix) && !a.deprecated)?.addr ?? "";
      return found !== "";
    }, 30_000);
    return found;
  };
  const first = await lanAddr(FIRST);
  t.pass(`dhcpcd got ${FIRST.replace("::/56", "")}… delegated, dnsmasq advertised it, the LAN host took ${first}`);
  await until(() => g.log().includes("IPv6: eth1 has the prefix 2001:db8:100::/64"));
  t.match(ipmasq("status"), /IPv6 prefixes: eth1 2001:db8:100::\/64/, "status shows the LAN's prefix");
  t.match(
    lab.exec(lab.gw, ["curl", "-sS", "http://127.0.0.1:9100/metrics"]),
    'ipmasq_lan_prefix6{iface="eth1",prefix="2001:db8:100::/64"} 1',
    "and the metrics",
  );
  t.match(
    lab.exec(lab.lan, ["rdisc6", "-1", "lan0"]),
    /Recursive DNS server\s*:\s*fe80::|Recursive DNS server\s*:\s*2001:db8:100::/,
    "the advertisements name the gateway as the LAN's DNS server (RDNSS)",
  );

  const get = (): { seen: string; sha: string } => {
    const out = lab.exec(lab.lan, [
      "sh",
      "-c",
      `curl -sS -6 -D - -o /tmp/ipmasq-isp-$$ 'http://[${WAN6}]:8080/bytes?n=3000000&seed=9' && sha256sum /tmp/ipmasq-isp-$$; rm -f /tmp/ipmasq-isp-$$`,
    ]);
    return { seen: /x-seen-from: (\S+)/i.exec(out)?.[1] ?? "", sha: /^([0-9a-f]{64}) /m.exec(out)?.[1] ?? "" };
  };
  let r = get();
  t.equal(r.sha, sha256Of(3_000_000, 9), "curl -6 from the LAN host: 3 MB byte-exact");
  t.equal(r.seen, first, "the WAN server sees the LAN host's own address (routed, no NAT)");
  t.match(lab.exec(lab.lan, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", WAN6]), /2 received/, "ping -6 too");
  // a flow of the first prefix, still live when it goes
  t.match(
    lab.exec(lab.lan, [NODE, join(PEERS, "udp-echo.js"), "client", WAN6, "5353", "before", "45000"]),
    /^seen/,
    "a UDP flow from the first prefix",
  );
  t.match(ipmasq("conns"), `[${first}]:45000`, "is in the table");

  // The ISP renumbers: another /56, the lease asked for again (as after a reconnect)
  lab.delegateFrom("2001:db8:200::");
  await sleep(500); // kea has reloaded
  const renewed = Date.now();
  lab.renew();
  await until(
    () =>
      lab.addrs6(lab.gw, "eth1").some((a) => within(a.addr, SECOND)) &&
      !lab.addrs6(lab.gw, "eth1").some((a) => within(a.addr, FIRST)),
    30_000,
  );
  await until(() => g.log().includes("IPv6: the prefix 2001:db8:100::/64 left eth1"));
  t.match(g.log(), /the prefix 2001:db8:100::\/64 left eth1: [1-9]\d* flows? of it ended/, "ipmasq ends its flows");
  t.notOk(ipmasq("conns").includes("[2001:db8:100:"), "the table holds no flow of the old prefix");
  await until(() => /DESTROY.*2001:db8:100:.*prefix-change/.test(readFileSync(eventLog, "utf8")));
  t.pass("the event log has their DESTROY, why prefix-change");
  const second = await lanAddr(SECOND);
  await until(
    () => lab.addrs6(lab.lan, "lan0").some((a) => a.addr === first && a.deprecated && a.preferred === 0),
    20_000,
  );
  t.pass(
    `the LAN host took ${second}, and its old address is deprecated (the old prefix advertised with preferred lifetime 0)`,
  );
  r = get();
  t.equal(
    r.seen,
    second,
    `a new connection leaves from the new prefix (${((Date.now() - renewed) / 1000).toFixed(1)} s after the renewal)`,
  );
  t.equal(r.sha, sha256Of(3_000_000, 9), "byte-exact");

  // Nothing of the old prefix reaches the WAN: the LAN host still holds the address
  const drops = (): number =>
    (JSON.parse(ipmasq("status", "--json")) as { drops: Record<string, number> }).drops.spoofed ?? 0;
  const spoofedBefore = drops();
  const dump = lab.spawn(lab.wan, ["tcpdump", "-n", "-l", "-i", "wan0", "ip6 and src net 2001:db8:100::/56"]);
  let seen = "";
  dump.stdout!.on("data", (d) => (seen += d));
  let listening = "";
  dump.stderr!.on("data", (d) => (listening += d));
  await until(() => listening.includes("listening on"));
  const old = outcome(() => lab.exec(lab.lan, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", "-I", first, WAN6]));
  t.not(old.code, 0, "a ping from the old address gets no answer");
  outcome(() =>
    lab.exec(lab.lan, ["curl", "-sS", "-6", "--max-time", "2", "--interface", first, `http://[${WAN6}]:8080/`]),
  );
  await sleep(500);
  dump.kill("SIGTERM");
  t.equal(seen.trim(), "", "tcpdump on the WAN sees no packet from the old prefix");
  t.ok(drops() > spoofedBefore, `the gateway dropped them as spoofed (${drops() - spoofedBefore})`);
});
