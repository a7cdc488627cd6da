// NAT-PMP (Debian's natpmpc) and PCP (a client written from RFC 6887) on the LAN side: inbound
// mappings with lifetimes, reachable from the WAN, listed, deleted and expiring; over IPv6 PCP
// opens pinholes in the firewall.
import t from "tap";
import { join } from "node:path";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  outcome,
  until,
  GW_LAN6,
  GW_WAN6,
  LAN6,
  WAN6,
} from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");
const WAN6_OTHER = "2001:db8:ff::3";

t.test("NAT-PMP and PCP", async (t) => {
  const topo = makeTopology("pcp");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  topo.exec(topo.wan, ["ip", "addr", "add", "10.0.0.3/24", "dev", "wan0"]); // a second WAN host, new to the mappings
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "45010"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "45020"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "45021"]));
  const off = await startGateway(topo, ["--config", writeConfig(topo)], state);
  const off1 = outcome(() => topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1"], { timeout: 20_000 }));
  t.ok(off1.code !== 0 && /Connection refused/.test(off1.out), "off by default: nothing listens (the port is closed)");
  off.proc.kill("SIGTERM");
  await waitExit(off.proc);

  const g = await startGateway(topo, ["--config", writeConfig(topo), "--pcp", "on"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const conns = (): Array<{ state: string; lan: string; public: string }> =>
    JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "conns", "--json", "--state-dir", state]));

  t.match(
    topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1"]),
    /Public IP address : 10\.0\.0\.1/,
    "NAT-PMP: public address",
  );
  const mapped = topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45010", "45010", "udp", "60"]);
  t.match(mapped, /Mapped public port 45010 protocol UDP to local port 45010 lif?e?time 60/, "NAT-PMP: UDP mapping");
  t.match(
    topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.1", "45010", "in"]),
    /^seen 10\.0\.0\.2:\d+ in/,
    "a WAN host reaches the LAN application, which sees it",
  );
  t.ok(
    conns().some((c) => c.state === "MAPPED" && c.lan === "192.168.0.2:45010" && c.public === "10.0.0.1:45010"),
    "the mapping is listed",
  );
  topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45010", "45010", "udp", "0"]);
  t.notOk(
    conns().some((c) => c.state === "MAPPED"),
    "lifetime 0 deletes it",
  );
  const closed = outcome(() =>
    topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.1", "45010", "in", "10.0.0.3:0"]),
  );
  t.same([closed.code, closed.out.trim()], [1, "no answer"], "and closes it for new peers");

  t.match(
    topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45021", "45021", "tcp", "60"]),
    /Mapped public port 45021 protocol TCP to local port 45021/,
    "NAT-PMP: TCP mapping",
  );
  t.match(
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.1:45021/"]),
    /"from":"10\.0\.0\.2"/,
    "a WAN client reaches the LAN server through it",
  );
  topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45021", "45021", "tcp", "0"]);

  const res = JSON.parse(
    topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), "192.168.0.1", "192.168.0.2", "tcp", "45020", "3"]),
  );
  t.match(
    res,
    {
      version: 2,
      response: true,
      opcode: 1,
      result: 0,
      lifetime: 3,
      nonceEchoed: true,
      protocol: 6,
      internalPort: 45020,
      externalAddress: "10.0.0.1",
    },
    "PCP MAP answered",
  );
  t.match(
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", `http://10.0.0.1:${res.externalPort}/`]),
    /"from":"10\.0\.0\.2"/,
    `PCP: TCP to 10.0.0.1:${res.externalPort} reaches the LAN server`,
  );
  const announce = JSON.parse(
    topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), "192.168.0.1", "192.168.0.2", "announce", "0", "0"]),
  );
  t.match(
    announce,
    { version: 2, response: true, opcode: 0, result: 0, lifetime: 0, size: 24 },
    "PCP ANNOUNCE answered: success, header only (RFC 6887 14.1)",
  );
  const bad = JSON.parse(
    topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), "192.168.0.1", "192.168.0.9", "tcp", "45020", "60"]),
  );
  t.equal(bad.result, 12, "PCP: a client address that is not the sender's gets ADDRESS_MISMATCH");
  // the sweep runs every 5 s: wait for the expiry itself, not a fixed time
  const gone = await until(() => !conns().some((c) => c.state === "MAPPED"), 15_000);
  t.pass(`the PCP mapping expired and is no longer listed (${gone} ms after the check)`);
  t.equal(
    outcome(() =>
      topo.exec(topo.wan, [
        "curl",
        "-sS",
        "--max-time",
        "2",
        "--interface",
        "10.0.0.3",
        `http://10.0.0.1:${res.externalPort}/`,
      ]),
    ).code,
    28,
    "after its 3 s lifetime the PCP mapping lets no new peer in (no answer at all)",
  );
});

// IPv6: nothing is translated; PCP opens a pinhole in the firewall to the asking address:port
// (RFC 6887 as a firewall, RFC 6092 REC-48), under the same rules as IPv4.
t.test("PCP over IPv6: a pinhole to the LAN host's own address", async (t) => {
  const topo = makeTopology("pcp6", { ipv6: true });
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "45030"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "45031", "6"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo), "--pcp", "on"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const conns = (): Array<{ state: string; lan: string; public: string }> =>
    JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "conns", "--json", "--state-dir", state]));
  const pcp = (...args: string[]): Record<string, unknown> =>
    JSON.parse(topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), GW_LAN6, ...args]));
  // a second WAN host, never sent to by the LAN server: with address-dependent filtering the
  // first one, whose connection the server answered, may come back without the pinhole (as IPv4)
  topo.exec(topo.wan, ["ip", "addr", "add", `${WAN6_OTHER}/64`, "dev", "wan0", "nodad", "preferred_lft", "0"]); // never a default source
  const fromWan = (): number =>
    outcome(() =>
      topo.exec(topo.wan, [
        "curl",
        "-sS",
        "-6",
        "--max-time",
        "2",
        "--interface",
        WAN6_OTHER,
        `http://[${LAN6}]:45030/`,
      ]),
    ).code;

  t.equal(fromWan(), 28, "before: the LAN server is closed to the WAN (no answer at all)");
  t.match(
    pcp(LAN6, "tcp", "45030", "60"),
    {
      result: 0,
      lifetime: 60,
      nonceEchoed: true,
      protocol: 6,
      internalPort: 45030,
      externalPort: 45030,
      externalAddress: LAN6,
    },
    "PCP MAP over IPv6: success; the external address and port are the host's own",
  );
  await until(() => g.log().includes(`PCP: tcp [${LAN6}]:45030 open to the WAN for 60 s`));
  t.pass("the log says so");
  t.match(
    topo.exec(topo.wan, ["curl", "-sS", "-6", "--max-time", "3", `http://[${LAN6}]:45030/`]),
    new RegExp(`"from":"${WAN6}"`),
    "the WAN host reaches the LAN server, which sees it",
  );
  t.ok(
    conns().some((c) => c.state === "MAPPED" && c.lan === `[${LAN6}]:45030`),
    "the pinhole is listed",
  );
  t.match(pcp(LAN6, "udp", "45031", "60"), { result: 0, protocol: 17 }, "a UDP pinhole");
  t.match(
    topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", LAN6, "45031", "in"]),
    new RegExp(`^seen ${WAN6}:\\d+ in`),
    "UDP from the WAN reaches it",
  );
  t.match(pcp(LAN6, "tcp", "45030", "0"), { result: 0, lifetime: 0 }, "lifetime 0 closes it");
  t.notOk(
    conns().some((c) => c.state === "MAPPED" && c.lan === `[${LAN6}]:45030`),
    "and it is no longer listed",
  );
  t.equal(fromWan(), 28, "a new WAN host is refused again");
  t.equal(
    pcp("2001:db8:1::99", "tcp", "45030", "60").result,
    12,
    "a client address not the sender's: ADDRESS_MISMATCH",
  );
  t.equal(pcp(LAN6, "tcp", "45030", "60", "2001:db8:1::99").result, 2, "a mapping for another host: NOT_AUTHORIZED");
  // from the WAN the server does not answer: the socket hears only the LAN interface
  const wanAsks = outcome(() =>
    topo.exec(topo.wan, [NODE, join(PEERS, "pcp-client.js"), GW_WAN6, WAN6, "tcp", "45030", "60"]),
  );
  t.same([wanAsks.code, wanAsks.out.trim()], [1, "no answer"], "a PCP request from the WAN gets no answer");
  t.match(pcp(LAN6, "tcp", "45030", "2"), { result: 0, lifetime: 2 }, "a pinhole of 2 s");
  await until(() => /PCP: tcp \[2001:db8:1::2\]:45030 closed: its lifetime ended/.test(g.log()), 15_000);
  t.equal(fromWan(), 28, "after its lifetime the pinhole lets no one in");
});
