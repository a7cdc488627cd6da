// Run options end to end: the edges of --ports (the gateway's own connections keep working while
// it runs), --tun, --wan pinned without a default route, --gro-hold and --gro-busy (a
// burst held only while its interface is busy), --pin.
import t from "tap";
import { join } from "node:path";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, until } from "../harness/topology";
import { receiveOffload } from "../harness/kernel-state";
import { NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

t.test("run options", async (t) => {
  const topo = makeTopology("opt");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const range = (): string =>
    topo.exec(topo.gw, ["sysctl", "-n", "net.ipv4.ip_local_port_range"]).trim().replace(/\s+/g, " ");
  const original = range();
  const run = async (args: string[], check: (log: string) => void | Promise<void>): Promise<void> => {
    const g = await startGateway(topo, ["--config", writeConfig(topo), ...args], state);
    try {
      await check(g.log());
    } finally {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  };
  // the address the WAN server saw; `port`: the client's source port
  const seen = (ns: string, port?: number): string =>
    JSON.parse(
      topo.exec(ns, [
        "curl",
        "-sS",
        "--max-time",
        "5",
        ...(port ? ["--local-port", String(port)] : []),
        "http://10.0.0.2:8080/",
      ]),
    ).from;

  // [--ports, the gateway's own ports it must move to]
  const EDGES: Array<[string, string]> = [
    ["1024-65000", "65001 65535"], // the widest range: 535 ports left above it
    ["1024-64535", "64536 65535"], // exactly 1000 above
    ["5000-65000", "1024 4999"], // more room below than above
  ];
  for (const [k, [ports, own]] of EDGES.entries()) {
    await t.test(`--ports ${ports}`, async (t) => {
      await run(["--ports", ports], async () => {
        t.equal(range(), own, `the gateway's own sockets move to ${own}`);
        t.equal(seen(topo.lan, 40000 + k), "10.0.0.1", "a LAN host is masqueraded");
        t.equal(seen(topo.gw), "10.0.0.1", "and the gateway's own connection to the WAN works while it runs");
      });
      t.equal(range(), original, "on stop the range is put back");
    });
  }

  await t.test("--tun names the devices", async (t) => {
    await run(["--tun", "gw7"], (log) => {
      const links = topo.exec(topo.gw, ["ip", "-o", "link"]);
      for (const dev of ["gw7", "gw7-1", "gw7-2"]) t.match(links, new RegExp(`: ${dev}: `), `device ${dev}`);
      t.notMatch(links, /masq0/, "and no masq0");
      t.match(log, /TUN gw7, gw7-1, gw7-2/, "the log names them");
      t.equal(seen(topo.lan), "10.0.0.1", "it forwards");
    });
  });

  await t.test("--wan pinned: no default route needed", async (t) => {
    topo.exec(topo.gw, ["ip", "route", "del", "default"]);
    try {
      await run(["--wan", "eth0"], (log) => {
        t.match(log, /the WAN is eth0: masquerading as 10\.0\.0\.1/, "the pinned interface is the WAN");
        t.notMatch(log, /waiting for the WAN/, "without waiting for a default route");
        t.equal(seen(topo.lan), "10.0.0.1", "an on-link WAN host is reached, masqueraded");
      });
    } finally {
      topo.exec(topo.gw, ["ip", "route", "add", "default", "via", "10.0.0.2"]);
    }
  });

  await t.test("--lan pins the LAN among several inside interfaces", async (t) => {
    topo.exec(topo.gw, ["ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p"]);
    topo.exec(topo.gw, ["ip", "addr", "add", "192.168.1.1/24", "dev", "eth2"]);
    topo.exec(topo.gw, ["ip", "link", "set", "eth2", "up"]);
    const wide = "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/16 -j MASQ\n";
    const start = (args: string[]): ReturnType<typeof startGateway> =>
      startGateway(topo, ["--config", writeConfig(topo, wide), ...args], state);
    try {
      let g = await start([]);
      t.match(
        g.log(),
        /masquerading 192\.168\.0\.0\/16 from eth1, eth2 as 10\.0\.0\.1/,
        "without --lan every interface in the masqueraded network is a LAN",
      );
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
      g = await start(["--lan", "eth1"]);
      t.match(g.log(), /masquerading 192\.168\.0\.0\/16 from eth1 as 10\.0\.0\.1/, "--lan eth1: only eth1");
      t.match(g.log(), /receive offload on eth1, eth0:/, "receive offload is set on the pinned LAN and the WAN only");
      t.equal(seen(topo.lan), "10.0.0.1", "and it forwards");
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    } finally {
      topo.exec(topo.gw, ["ip", "link", "del", "eth2"]);
    }
  });

  await t.test("--gro-hold, --gro-busy", async (t) => {
    const line = (dev: string): string =>
      receiveOffload(topo, topo.gw)
        .split("\n")
        .find((l) => l.startsWith(`${dev}:`))!;
    await run(["--gro-hold", "200", "--gro-busy", "0"], async () => {
      await until(() => / 200000 1\s*$/.test(line("eth0")));
      t.match(
        line("eth0"),
        /generic-receive-offload: on .* 200000 1\s*$/,
        "--gro-busy 0: held always, 200 µs: gro_flush_timeout 200000 ns, deferred interrupts",
      );
    });
    await run(["--gro-hold", "0"], () => {
      t.match(line("eth0"), /generic-receive-offload: on .* 0 0\s*$/, "--gro-hold 0: GRO on, nothing held");
    });
    t.match(line("eth0"), /generic-receive-offload: off .* 0 0\s*$/, "and all put back on stop");
  });

  await t.test("--pin", async (t) => {
    // the CPUs each worker thread (named ipmasq-wN) may run on
    const placement = (): Record<string, string> => {
      const pid = topo.exec(topo.gw, ["pgrep", "-f", `ipmasq.js run --state-dir ${state}`]).trim();
      const out: Record<string, string> = {};
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const name = readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").trim();
        if (/^ipmasq-w\d$/.test(name))
          out[name] = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${task}/status`, "utf8"))![1];
      }
      return out;
    };
    const all = `0-${cpus().length - 1}`;
    await run(["--workers", "2", "--pin", "on"], async () => {
      await until(() => Object.keys(placement()).length === 2);
      t.same(
        placement(),
        { "ipmasq-w0": "0", "ipmasq-w1": String(1 % cpus().length) },
        "--pin on: worker N on CPU N only",
      );
    });
    await run(["--workers", "2"], async () => {
      await until(() => Object.keys(placement()).length === 2);
      t.same(placement(), { "ipmasq-w0": all, "ipmasq-w1": all }, "by default the workers may run anywhere");
    });
  });

  await t.test("a burst is held only while the interface is busy", async (t) => {
    const line = (dev: string): string =>
      receiveOffload(topo, topo.gw)
        .split("\n")
        .find((l) => l.startsWith(`${dev}:`))!;
    const held = (dev: string): string => / (\d+ \d+)\s*$/.exec(line(dev))![1];
    // the operator's own hold on eth1, which ipmasq must put back each time it lets go
    const mine = (v: string): void => {
      const [timeout, irqs] = v.split(" ");
      topo.exec(topo.gw, [
        "sh",
        "-c",
        `echo ${timeout} > /sys/class/net/eth1/gro_flush_timeout; echo ${irqs} > /sys/class/net/eth1/napi_defer_hard_irqs`,
      ]);
    };
    mine("20000 2");
    const iperf = topo.spawn(topo.wan, ["iperf3", "-s", "-p", "5202"]);
    try {
      await until(() => topo.exec(topo.wan, ["ss", "-Hltn", "sport = :5202"]).trim() !== "");
      await run(["--metrics", "9465"], async () => {
        const holds = (): Array<{ iface: string; holding: boolean; pps: number }> =>
          JSON.parse(
            topo.exec(topo.gw, [
              NODE,
              join(__dirname, "..", "dist", "ipmasq.js"),
              "status",
              "--json",
              "--state-dir",
              state,
            ]),
          ).receiveHolds;
        await until(() => holds().length === 2);
        t.same(
          holds()
            .map((h) => [h.iface, h.holding])
            .sort(),
          [
            ["eth0", false],
            ["eth1", false],
          ],
          "quiet: neither interface holds",
        );
        t.equal(held("eth1"), "20000 2", "and the operator's own setting stays");
        t.equal(held("eth0"), "0 0", "the WAN keeps the kernel's default");
        // 64-byte datagrams at 50 000 a second into eth1 for a while
        const load = topo.spawn(topo.lan, [
          "iperf3",
          "-c",
          "10.0.0.2",
          "-p",
          "5202",
          "-u",
          "-w",
          "4M",
          "-l",
          "36",
          "-b",
          String(50_000 * 36 * 8),
          "-t",
          "6",
        ]);
        try {
          await until(() => held("eth1") === "50000 1", 5000);
          const busy = holds().find((h) => h.iface === "eth1")!;
          t.ok(busy.holding && busy.pps >= 20_000, `busy: eth1 holds bursts 50 µs (receiving ${busy.pps} packets/s)`);
          t.equal(held("eth0"), "0 0", "eth0, still quiet, holds nothing");
          const metrics = topo.exec(topo.gw, ["curl", "-sS", "http://127.0.0.1:9465/metrics"]);
          t.match(metrics, /^ipmasq_receive_hold\{iface="eth1"\} 1$/m, "metrics: eth1 holds");
          t.match(metrics, /^ipmasq_receive_hold\{iface="eth0"\} 0$/m, "metrics: eth0 does not");
        } finally {
          load.kill("SIGKILL");
        }
        await until(() => held("eth1") === "20000 2", 5000);
        t.pass("quiet again: eth1 lets go, back to the operator's setting");
        t.match(
          topo.exec(topo.gw, [NODE, join(__dirname, "..", "dist", "ipmasq.js"), "status", "--state-dir", state]),
          /receive hold: .*eth1 off \(\d+ packets\/s, switched 2 times\)/,
          "status says so",
        );
      });
      t.equal(held("eth1"), "20000 2", "on stop the operator's setting is there");
    } finally {
      iperf.kill("SIGKILL");
      mine("0 0");
    }
  });
});
