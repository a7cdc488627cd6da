// NAT-PMP (Debian's natpmpc) and PCP (a client written from RFC 6887) on the LAN side: inbound
// mappings with lifetimes, reachable from the WAN, listed, deleted and expiring.
import t from "tap";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, fails, sleep } from "../harness/topology";

const PEERS = join(__dirname, "peers");
const NODE = process.execPath;
const BUNDLE = join(__dirname, "..", "dist", "ipmasq.js");


t.test("NAT-PMP and PCP", async (t) => {
  const topo = makeTopology("pcp");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  topo.exec(topo.wan, ["ip", "addr", "add", "10.0.0.3/24", "dev", "wan0"]); // a second WAN host, new to the mappings
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "45010"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "45020"]));
  const off = await startGateway(topo, ["--config", writeConfig(topo)], state);
  t.ok(fails(() => topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1"], { timeout: 20_000 })), "off by default: no answer");
  off.proc.kill("SIGTERM");
  await waitExit(off.proc);

  const g = await startGateway(topo, ["--config", writeConfig(topo), "--pcp", "on"], state);
  t.teardown(async () => { g.proc.kill("SIGTERM"); await waitExit(g.proc).catch(() => undefined); });
  const conns = (): Array<{ state: string; lan: string; public: string }> => JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "conns", "--json", "--state-dir", state]));

  t.match(topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1"]), /Public IP address : 10\.0\.0\.1/, "NAT-PMP: public address");
  const mapped = topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45010", "45010", "udp", "60"]);
  t.match(mapped, /Mapped public port 45010 protocol UDP to local port 45010 lif?e?time 60/, "NAT-PMP: UDP mapping");
  t.match(topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.1", "45010", "in"]), /^seen 10\.0\.0\.2:\d+ in/, "a WAN host reaches the LAN application, which sees it");
  t.ok(conns().some((c) => c.state === "MAPPED" && c.lan === "192.168.0.2:45010" && c.public === "10.0.0.1:45010"), "the mapping is listed");
  topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "45010", "45010", "udp", "0"]);
  t.notOk(conns().some((c) => c.state === "MAPPED"), "lifetime 0 deletes it");
  t.ok(fails(() => topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.1", "45010", "in", "10.0.0.3:0"])), "and closes it for new peers");

  const res = JSON.parse(topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), "192.168.0.1", "192.168.0.2", "tcp", "45020", "3"]));
  t.match(res, { version: 2, response: true, opcode: 1, result: 0, lifetime: 3, nonceEchoed: true, protocol: 6, internalPort: 45020, externalAddress: "10.0.0.1" }, "PCP MAP answered");
  t.match(topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", `http://10.0.0.1:${res.externalPort}/`]), /"from":"10\.0\.0\.2"/, `PCP: TCP to 10.0.0.1:${res.externalPort} reaches the LAN server`);
  const bad = JSON.parse(topo.exec(topo.lan, [NODE, join(PEERS, "pcp-client.js"), "192.168.0.1", "192.168.0.9", "tcp", "45020", "60"]));
  t.equal(bad.result, 12, "PCP: a client address that is not the sender's gets ADDRESS_MISMATCH");
  await sleep(6500);
  t.ok(fails(() => topo.exec(topo.wan, ["curl", "-sS", "--max-time", "2", "--interface", "10.0.0.3", `http://10.0.0.1:${res.externalPort}/`])), "after its 3 s lifetime the PCP mapping lets no new peer in");
  t.notOk(conns().some((c) => c.state === "MAPPED"), "and is no longer listed");
});
