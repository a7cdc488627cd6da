// The field: a WAN that changes under the gateway, links that flap, devices made again, crashes
// and double starts — each with real programs (a DHCP server and client, curl, ping) and the
// kernel's own state as the judge.
import t from "tap";
import { join } from "node:path";
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  sleep,
  until,
  outcome,
  type Topology,
} from "../harness/topology";
import { kernelState, receiveOffload } from "../harness/kernel-state";
import { BUNDLE, NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

const fetch = (topo: Topology, url: string, seconds = 5): string =>
  topo.exec(topo.lan, ["curl", "-sS", "--max-time", String(seconds), url], { timeout: 60_000 });
const seenAs = (topo: Topology, seconds = 5): string => JSON.parse(fetch(topo, "http://10.0.0.2:8080/", seconds)).from;
const pings = (topo: Topology): boolean => {
  try {
    topo.exec(topo.lan, ["ping", "-c", "1", "-W", "1", "10.0.0.2"]);
    return true;
  } catch {
    return false;
  }
};
const localRules = (topo: Topology): number =>
  topo
    .exec(topo.gw, ["ip", "rule"])
    .split("\n")
    .filter((l) => /^\d+:\s+from all lookup local$/.test(l)).length; // the local table itself, wherever it sits

t.test("a second start is refused and touches nothing; the first keeps forwarding", async (t) => {
  const topo = makeTopology("twice");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const g = await startGateway(topo, ["--config", writeConfig(topo)], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  t.ok(pings(topo), "the first gateway forwards");
  const rules = topo.exec(topo.gw, ["ip", "rule"]);
  let err = "",
    code = 0;
  try {
    topo.exec(topo.gw, [NODE, BUNDLE, "run", "--config", writeConfig(topo), "--state-dir", state], { timeout: 20_000 });
  } catch (e) {
    code = (e as { status: number }).status;
    err = String((e as { stderr: string }).stderr);
  }
  t.equal(code, 1, "the second start exits 1");
  t.equal(
    err,
    `ipmasq run: another ipmasq (pid ${g.proc.pid}) runs the gateway of this network namespace with TUN masq0; nothing was changed (stop it first, or choose another --tun)\n`,
    "one line naming the running gateway's pid",
  );
  t.notMatch(err, /restored/, "it restored nothing");
  t.equal(topo.exec(topo.gw, ["ip", "rule"]), rules, "the rules are untouched");
  t.ok(pings(topo), "the first gateway still forwards");
});

t.test("SIGKILL mid-download; the next start recovers; a clean stop leaves the kernel as before", async (t) => {
  const topo = makeTopology("kill");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const before = kernelState(topo, topo.gw);
  const g1 = await startGateway(topo, ["--config", writeConfig(topo)], state);
  const download = topo.spawn(topo.lan, [
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "http://10.0.0.2:8080/bytes?n=20000000&rate=2000000",
  ]);
  await sleep(1500);
  t.equal(download.exitCode, null, "the download is under way");
  g1.proc.kill("SIGKILL");
  await waitExit(g1.proc);
  t.notOk(pings(topo), "with the gateway killed, nothing is forwarded (rule 201 blackholes it: fail closed)");
  // its TUN devices go with it (no child of it held a queue open)...
  await until(() => outcome(() => topo.exec(topo.gw, ["ip", "link", "show", "masq0-2"])).code !== 0, 5000).catch(
    () => undefined,
  );
  t.not(
    outcome(() => topo.exec(topo.gw, ["ip", "link", "show", "masq0-2"])).code,
    0,
    "the killed gateway's TUN devices are gone",
  );
  // ...and a WAN packet to a NAT port, steered at the vanished device, is dropped, not answered by
  // the gateway's own stack: a reset there would end the connections a restart (or an HA peer) saves
  const code = outcome(() =>
    topo.exec(topo.wan, ["curl", "-sS", "--connect-timeout", "2", "http://10.0.0.1:40000/"]),
  ).code;
  t.equal(
    code,
    28,
    "a connection attempt to a NAT port times out (curl 28), it is not refused (7): no reset from the dead gateway",
  );
  const t0 = Date.now();
  const g2 = await startGateway(topo, ["--config", writeConfig(topo)], state);
  t.match(
    g2.log(),
    /restored the kernel settings an earlier run left behind/,
    "the journal of the killed run is undone first",
  );
  const ms = Date.now() - t0 + (await until(() => pings(topo)));
  t.pass(`forwarding again ${ms} ms after the restart began`);
  t.equal(localRules(topo), 1, "exactly one local rule");
  t.match(seenAs(topo), "10.0.0.1", "new connections work");
  g2.proc.kill("SIGTERM");
  await waitExit(g2.proc);
  t.equal(kernelState(topo, topo.gw), before, "after a clean stop the kernel is exactly as before the first start");
  t.same(
    readdirSync(state).filter((f) => f !== "lib"),
    [],
    "and the state directory holds no journal, lock or socket",
  );
});

t.test(
  "a journal of another namespace is set aside, never applied; the files of a namespace that is gone are swept, those of a live one kept",
  async (t) => {
    const scratch = mkdtempSync(join(tmpdir(), "ipmasq-stale-")); // outlives both topologies
    t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
    const state = join(scratch, "state");
    const old = makeTopology("old");
    t.teardown(() => old.destroy());
    const g1 = await startGateway(old, ["--config", writeConfig(old)], state);
    g1.proc.kill("SIGKILL");
    await waitExit(g1.proc);
    const journal = readdirSync(state).find((f) => f.startsWith("wiring-"))!;
    t.ok(journal, `the killed gateway left its journal (${journal})`);
    const leftByOld = readdirSync(state).filter((f) => f !== "lib");
    const oldJournal = readFileSync(join(state, journal));

    const topo = makeTopology("new");
    t.teardown(() => topo.destroy());
    await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8080"]));
    const config = writeConfig(
      topo,
      "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\nipmasqadm portfw -a -P tcp -L 10.0.0.1 8080 -R 192.168.0.2 8080\n",
    );
    const live = await startGateway(topo, ["--config", config], state);
    live.proc.kill("SIGTERM");
    await waitExit(live.proc);
    t.same(
      leftByOld.filter((f) => !existsSync(join(state, f))),
      [],
      `while its namespace lives, the killed gateway's files stay (its next start there undoes its wiring): ${leftByOld.join(", ")}`,
    );
    old.destroy();

    // find the name this namespace's journal would have, and put the dead one's there
    const probe = await startGateway(topo, ["--config", config], state);
    t.match(
      probe.log(),
      /removed the files of a gateway whose network namespace \(net:\[\d+\]\) is gone/,
      "once its namespace is gone, the next start anywhere says it swept them",
    );
    t.same(
      leftByOld.filter((f) => existsSync(join(state, f))),
      [],
      "and none is left",
    );
    const mine = readdirSync(state).find((f) => f.startsWith("wiring-"))!;
    probe.proc.kill("SIGTERM");
    await waitExit(probe.proc);
    writeFileSync(join(state, mine), oldJournal, { mode: 0o600 });
    const before = kernelState(topo, topo.gw);

    const g = await startGateway(topo, ["--config", config], state);
    t.teardown(async () => {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc).catch(() => undefined);
    });
    t.match(g.log(), /set aside a journal of another network namespace, not applied/, "the log says it was set aside");
    t.notMatch(g.log(), /restored/, "nothing was restored from it");
    t.equal(localRules(topo), 1, "ip rule shows exactly one local rule");
    t.match(
      topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.1:8080/"]),
      /"from":"10\.0\.0\.2"/,
      "the port forward works",
    );
    g.proc.kill("SIGTERM");
    await waitExit(g.proc);
    t.equal(kernelState(topo, topo.gw), before, "a clean stop leaves the kernel as before");
  },
);

t.test("the WAN comes and goes: no address or route at start, link flaps, the device is made again", async (t) => {
  const topo = makeTopology("flap");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const rulesBefore = topo.exec(topo.gw, ["ip", "rule"]);
  topo.exec(topo.gw, ["ip", "addr", "flush", "dev", "eth0"]); // also takes the default route
  const g = await startGateway(topo, ["--config", writeConfig(topo)], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  t.match(g.log(), /waiting for the WAN: no default route/, "it starts and says it waits for the WAN");
  t.match(
    topo.exec(topo.lan, ["sh", "-c", "ping -c 1 -W 2 10.0.0.2; true"]),
    /Destination Net Unreachable/,
    "a LAN host hears at once that the net is unreachable",
  );
  topo.exec(topo.gw, ["ip", "addr", "add", "10.0.0.1/24", "dev", "eth0"]);
  topo.exec(topo.gw, ["ip", "route", "add", "default", "via", "10.0.0.2"]);
  const up = await until(() => pings(topo));
  t.pass(`the WAN appeared: forwarding ${up} ms later, without a restart`);
  await until(() => /the WAN is eth0: masquerading as 10\.0\.0\.1/.test(g.log()), 3000); // its stdout may lag
  t.match(g.log(), /the WAN is eth0: masquerading as 10\.0\.0\.1/, "the log says so");

  // a short flap of the link during a download: the flow survives
  const path = "/bytes?n=12000000&seed=7";
  const want = topo.exec(topo.wan, ["sh", "-c", `curl -sS 'http://127.0.0.1:8080${path}' | sha256sum`]).split(" ")[0];
  const dl = topo.spawn(topo.lan, [
    "sh",
    "-c",
    `curl -sS --max-time 60 'http://10.0.0.2:8080${path}&rate=1500000' | sha256sum`,
  ]);
  let got = "";
  dl.stdout!.on("data", (d) => {
    got += d;
  });
  dl.stderr!.on("data", (d) => {
    got += d;
  });
  const done = new Promise((r) => dl.on("exit", r));
  await sleep(1000);
  topo.exec(topo.gw, ["ip", "link", "set", "eth0", "down"]);
  await sleep(1000);
  // the link is back before the default route: the gateway still waits for the WAN while the
  // server's retransmissions arrive, and they must reach the flow, not the gateway's own stack
  // (which would answer with a reset; once seen when a reconcile came late)
  topo.exec(topo.gw, ["ip", "link", "set", "eth0", "up"]);
  await sleep(2500);
  t.match(
    g.log().split("waiting for the WAN").pop(),
    /^: no default route/,
    "with the link up and no default route it still waits",
  );
  t.match(
    topo.exec(topo.gw, ["ip", "rule"]),
    /iif eth0 ipproto tcp dport 32768-60999 lookup/,
    "and the WAN's NAT ports still lead into ipmasq (ip rule)",
  );
  topo.exec(topo.gw, ["sh", "-c", "ip route replace default via 10.0.0.2"]);
  const flap = await until(() => pings(topo));
  t.pass(`link down 1 s, up 2.5 s without a default route, then the route: forwarding ${flap} ms later`);
  await done;
  t.equal(got.split(" ")[0], want, "the download across the flap arrived byte-exact");

  // the WAN device removed and made again under the same name (a PPP redial): new ifindex
  const index = (): string => topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/ifindex"]).trim();
  const oldIndex = index();
  topo.exec(topo.gw, ["ip", "link", "del", "eth0"]);
  await sleep(500);
  topo.exec(topo.gw, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "wan0", "netns", topo.wan]);
  topo.exec(topo.wan, ["ip", "addr", "add", "10.0.0.2/24", "dev", "wan0"]);
  topo.exec(topo.wan, ["ip", "link", "set", "wan0", "up"]);
  topo.exec(topo.gw, ["ip", "addr", "add", "10.0.0.1/24", "dev", "eth0"]);
  topo.exec(topo.gw, ["ip", "link", "set", "eth0", "up"]);
  topo.exec(topo.gw, ["ip", "route", "add", "default", "via", "10.0.0.2"]);
  const back = await until(() => pings(topo));
  t.not(index(), oldIndex, `eth0 is a new device (ifindex ${oldIndex} -> ${index()})`);
  t.pass(`WAN device made again: forwarding ${back} ms after it was back`);
  t.match(seenAs(topo), "10.0.0.1", "new connections work through it");
  await until(
    () =>
      /generic-receive-offload: on/.test(
        receiveOffload(topo, topo.gw)
          .split("\n")
          .find((l) => l.startsWith("eth0:")) ?? "",
      ),
    3000,
  );
  t.match(
    receiveOffload(topo, topo.gw),
    /^eth0: .*rx-udp-gro-forwarding: on.* 0 0 *$/m,
    "receive offload is set again on the new device (no hold: it is quiet)",
  );
  await until(() => /receive offload on eth0/.test(g.log()), 3000);
  t.match(g.log(), /receive offload on eth0/, "and the log says so");

  // a second uplink appears and the default route moves to it: it becomes the WAN
  topo.exec(topo.gw, ["ip", "link", "add", "eth2", "type", "veth", "peer", "name", "wan2", "netns", topo.wan]);
  topo.exec(topo.wan, ["ip", "addr", "add", "10.0.1.2/24", "dev", "wan2"]);
  topo.exec(topo.wan, ["ip", "link", "set", "wan2", "up"]);
  topo.exec(topo.gw, ["ip", "addr", "add", "10.0.1.1/24", "dev", "eth2"]);
  topo.exec(topo.gw, ["ip", "link", "set", "eth2", "up"]);
  topo.exec(topo.gw, ["ip", "route", "replace", "default", "via", "10.0.1.2", "dev", "eth2"]);
  const moved = await until(() => {
    try {
      return seenAs(topo, 1) === "10.0.1.1";
    } catch {
      return false;
    }
  });
  t.pass(`the default route moved to eth2: new connections leave as 10.0.1.1 ${moved} ms later`);
  // connections opened while it moved: none took the old address after its flows were forgotten
  const conns = ipmasqCli(topo.exec, topo.gw, state)("conns", "--json");
  t.notMatch(conns, /"public":"10\.0\.0\.1[:#]/, "no connection masquerades as the old address");
  await until(() => /new interface eth2/.test(g.log()), 3000);
  t.match(
    g.log(),
    /new interface eth2: its packets come in through masq0-3/,
    "the new interface got its own ingress device",
  );
  await until(() => /the default route moved from eth0 to eth2/.test(g.log()), 3000); // its stdout may lag
  t.match(g.log(), /the default route moved from eth0 to eth2: eth2 is the WAN now/, "the log says the WAN moved");
  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  t.equal(topo.exec(topo.gw, ["ip", "rule"]), rulesBefore, "a clean stop removes every rule it added");
  t.notMatch(
    topo.exec(topo.gw, ["ip", "route", "show", "table", "all"]),
    /table 42\d\d/,
    "and every route of its tables",
  );
  t.match(
    receiveOffload(topo, topo.gw),
    /^eth0: .*generic-receive-offload: off/m,
    "and puts the new device's receive offload back as it found it",
  );
});

t.test(
  "a new DHCP lease: new flows use the new address at once, the old one is never used again, port forwards follow",
  async (t) => {
    const topo = makeTopology("dhcp");
    t.teardown(() => topo.destroy());
    const state = join(topo.dir, "state");
    const mac = topo.exec(topo.gw, ["cat", "/sys/class/net/eth0/address"]).trim();
    topo.exec(topo.gw, ["ip", "addr", "flush", "dev", "eth0"]); // the address comes from DHCP now
    // the WAN side's DHCP server gives the gateway's MAC a fixed address; authoritative, so that
    // a renewal of another address is refused (NAK) and the client takes the new one
    const dnsmasq = (addr: string): ChildProcess =>
      topo.spawn(topo.wan, [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--user=root",
        "--interface=wan0",
        "--bind-interfaces",
        "--dhcp-authoritative",
        "--dhcp-range=10.0.0.50,10.0.0.60,2m",
        `--dhcp-host=${mac},${addr}`,
        `--dhcp-leasefile=${join(topo.dir, "leases")}`,
        "--pid-file=",
      ]);
    const script = join(topo.dir, "udhcpc.script");
    writeFileSync(
      script,
      `#!/bin/sh
# udhcpc calls this with deconfig, bound, renew or nak; $ip, $mask (bits) and $router from the lease
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    if [ "$(ip -4 -o addr show dev "$interface" | awk '{print $4}')" != "$ip/$mask" ]; then
      ip -4 addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"
    fi
    ip route replace default via "\${router%% *}" dev "$interface" ;;
esac
`,
      { mode: 0o700 },
    );
    let server = dnsmasq("10.0.0.5");
    const client = topo.spawn(topo.gw, ["udhcpc", "-f", "-i", "eth0", "-s", script, "-t", "30", "-T", "1", "-A", "1"]);
    const gwAddr = (): string => topo.exec(topo.gw, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    await until(() => /10\.0\.0\.5\//.test(gwAddr()), 20_000);
    await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
    await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8080"]));
    const config =
      "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\nipmasqadm portfw -a -P tcp -L 10.0.0.5 8080 -R 192.168.0.2 8080\n";
    const g = await startGateway(topo, ["--config", writeConfig(topo, config)], state);
    t.teardown(async () => {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc).catch(() => undefined);
    });
    t.equal(seenAs(topo), "10.0.0.5", "the leased address is the public address");
    t.match(
      topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.5:8080/"]),
      /"from":"10\.0\.0\.2"/,
      "the port forward works on it",
    );

    // a LAN host keeps opening connections through the change
    const loop = topo.spawn(topo.lan, [
      "sh",
      "-c",
      "while true; do curl -s --max-time 1 http://10.0.0.2:8080/; echo; sleep 0.1; done",
    ]);
    let seen = "";
    loop.stdout!.on("data", (d) => {
      seen += d;
    });
    await sleep(1000);
    server.kill("SIGTERM");
    await new Promise((r) => server.on("exit", r));
    server = dnsmasq("10.0.0.6");
    await sleep(500);
    const t0 = Date.now();
    client.kill("SIGUSR1"); // renew now: refused, then a new lease
    await until(() => /10\.0\.0\.6\//.test(gwAddr()), 20_000);
    const leased = Date.now() - t0;
    const used = leased + (await until(() => seen.includes('"from":"10.0.0.6"')));
    t.pass(`new lease 10.0.0.6 after ${leased} ms; new connections use it ${used} ms after the renewal began`);
    // from now on, what reaches the WAN never comes from the old address
    const capture = topo.spawn(topo.wan, ["tcpdump", "-n", "-l", "-i", "wan0", "src", "host", "10.0.0.5"]);
    let captured = "";
    capture.stdout!.on("data", (d) => {
      captured += d;
    });
    capture.stderr!.on("data", (d) => {
      captured += d;
    });
    await until(() => /listening on wan0/.test(captured));
    const mark = seen.length;
    await sleep(2000);
    loop.kill("SIGKILL");
    const after = seen
      .slice(mark)
      .split("\n")
      .filter((l) => l.includes("from"));
    t.ok(after.length >= 5, `${after.length} connections opened after the change`);
    t.same([...new Set(after.map((l) => JSON.parse(l).from))], ["10.0.0.6"], "every one of them from the new address");
    capture.kill("SIGINT");
    await new Promise((r) => capture.on("exit", r));
    t.match(captured, /0 packets captured/, "the WAN host's capture saw no packet from the old address");
    t.match(
      g.log(),
      /the WAN address of eth0 changed from 10\.0\.0\.5 to 10\.0\.0\.6: \d+ mappings? of the old address forgotten, 1 port forward moved to the new one/,
      "the log says what changed",
    );
    t.match(
      topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.6:8080/"]),
      /"from":"10\.0\.0\.2"/,
      "the port forward follows the interface to 10.0.0.6",
    );
    t.match(
      topo.exec(topo.gw, [NODE, BUNDLE, "portfw", "-l", "--state-dir", state]),
      /10\.0\.0\.6/,
      "and is listed with it",
    );
  },
);
