// NAT-PMP (Debian's natpmpc) and PCP (a client written from RFC 6887) on the LAN side: inbound
// mappings with lifetimes, reachable from the WAN, listed, deleted and expiring.
import t from "tap";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, outcome, until } from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

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
