// Both directions of a masqueraded flow are read from the same TUN queue, so by one worker
// (host/tun/steering.ts): a download's data (in from the WAN) and its ACKs (in from the LAN) are
// counted on the worker that reads them. Flows to the same server still spread over the workers.
import t from "tap";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening } from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

t.test("a flow's two directions go to one worker", async (t) => {
  const topo = makeTopology("steer");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const g = await startGateway(topo, ["--config", writeConfig(topo), "--workers", "2"], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc);
  });
  t.notMatch(g.log(), /steering the TUN queues failed/, "the steering program is loaded and attached");
  const workers = (): Array<{ packetsOut: number; packetsIn: number }> =>
    JSON.parse(topo.exec(topo.gw, [NODE, BUNDLE, "status", "--json", "--state-dir", state])).workers;
  const used = new Set<number>();
  for (let i = 0; i < 16; i++) {
    const before = workers();
    topo.exec(topo.lan, [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "--local-port",
      String(41000 + i),
      "http://10.0.0.2:8080/bytes?n=2000000",
    ]);
    const after = workers();
    const delta = after.map((w, k) => ({
      out: w.packetsOut - before[k].packetsOut,
      in: w.packetsIn - before[k].packetsIn,
    }));
    const home = delta.findIndex((d) => d.in > 100); // the download's data segments
    const other = delta[1 - home];
    t.ok(
      home >= 0 && delta[home].out > 10 && other.in === 0 && other.out === 0,
      `download ${i} (port ${41000 + i}): data and ACKs both on worker ${home} (${JSON.stringify(delta)})`,
    );
    used.add(home);
  }
  t.equal(used.size, 2, "and the 16 downloads from one server are spread over both workers");
});
