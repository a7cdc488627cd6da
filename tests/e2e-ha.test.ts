// Two gateways, one network (docs/ha.md): real keepalived (VRRP) moves the virtual addresses
// 192.168.0.1 (LAN) and 10.0.0.1 (WAN, the public address) and tells ipmasq its role; ipmasq
// streams its table to the peer over a link of their own. Through the master: a 40 MB download,
// an interactive TCP session and a UDP stream. The master dies (SIGKILL of ipmasq and keepalived,
// and its links go dark as a dead box's would): the backup takes over with every connection —
// the download completes byte-exact, the session answers on the same connection, the UDP stream
// keeps its public port, the WAN server saw one connection from 10.0.0.1. The old master comes
// back as backup and gets the whole table without disturbing traffic. Then the new master's WAN
// link is cut: keepalived's FAULT stops it forwarding and the pair fails back. The pair is dual
// stack: an IPv6 download crosses the failover too, and a flush on the master empties the peer's
// IPv6 entries (DELETE6).
// The namespaces: harness/ha-pair.ts.
import t from "tap";
import { type ChildProcess, execFileSync } from "node:child_process";
import { writeFileSync, chmodSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { sleep, until, waitExit, waitListening } from "../harness/topology";
import { makePair, watch, pairFiles } from "../harness/ha-pair";
import { BUNDLE, NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

interface Member {
  name: "gw1" | "gw2";
  state: string;
  ipmasq?: ChildProcess;
  log?: () => string;
  keepalived?: ChildProcess;
}

t.test("an HA pair: failover with every connection kept, resync, and a WAN link cut", async (t) => {
  const p = makePair({ ipv6: true });
  t.teardown(() => p.destroy());
  const { key, config } = pairFiles(p);
  // NAT66 too: a unique local prefix beside the global one, masqueraded as the WAN's virtual IPv6
  // address by whichever gateway is master (--public6)
  appendFileSync(config, "ipchains -A forward -s fd00:1::/64 -j MASQ\n");
  p.exec(p.ns.lan, ["ip", "-6", "addr", "add", "fd00:1::10/64", "dev", "lan0", "nodad"]);
  p.exec(p.ns.gw1, ["ip", "-6", "addr", "add", "fd00:1::2/64", "dev", "eth1", "nodad"]);
  p.exec(p.ns.gw2, ["ip", "-6", "addr", "add", "fd00:1::3/64", "dev", "eth1", "nodad"]);
  const members: Record<"gw1" | "gw2", Member> = {
    gw1: { name: "gw1", state: join(p.dir, "gw1") },
    gw2: { name: "gw2", state: join(p.dir, "gw2") },
  };
  const peerOf = { gw1: "10.9.0.2", gw2: "10.9.0.1" };
  const lanAddr = { gw1: "192.168.0.2", gw2: "192.168.0.3" };
  const cli = (m: Member, ...args: string[]): string => ipmasqCli(p.exec, p.ns[m.name], m.state)(...args);
  const ha = (
    m: Member,
  ): {
    role: string;
    peerRole: string;
    counts: { receivedRecords: number; fullReceived: number; refused: Record<string, number> };
  } => JSON.parse(cli(m, "status", "--json")).ha;

  const startIpmasq = async (m: Member): Promise<void> => {
    const g = p.spawn(p.ns[m.name], [
      NODE,
      BUNDLE,
      "run",
      "--config",
      config,
      "--state-dir",
      m.state,
      "--public",
      "10.0.0.1",
      "--public6",
      "2001:db8:ff::1",
      "--sync-peer",
      peerOf[m.name],
      "--sync-key",
      key,
      "--sync-dev",
      "sync0",
    ]);
    const w = watch(g);
    await w.until(/ready\n/);
    m.ipmasq = g;
    m.log = w.text;
  };
  const startKeepalived = (m: Member): void => {
    // keepalived runs the notify script as root; it only calls ipmasq role
    const notify = join(p.dir, `notify-${m.name}`);
    writeFileSync(notify, `#!/bin/sh\nexec ${NODE} ${BUNDLE} role "$1" --state-dir ${m.state}\n`);
    chmodSync(notify, 0o700);
    const conf = join(p.dir, `keepalived-${m.name}.conf`);
    const other = m.name === "gw1" ? "gw2" : "gw1";
    writeFileSync(
      conf,
      `global_defs {
  router_id ipmasq_${m.name}
  script_user root
}
vrrp_instance gateway {
  state BACKUP
  nopreempt
  interface eth1
  virtual_router_id 42
  priority ${m.name === "gw1" ? 150 : 100}
  advert_int 1
  unicast_src_ip ${lanAddr[m.name]}
  unicast_peer {
    ${lanAddr[other]}
  }
  track_interface {
    eth0
  }
  virtual_ipaddress {
    192.168.0.1/24 dev eth1
    10.0.0.1/24 dev eth0
  }
  virtual_ipaddress_excluded {
    2001:db8:1::1/64 dev eth1
    2001:db8:ff::1/64 dev eth0
  }
  notify_master "${notify} master"
  notify_backup "${notify} backup"
  notify_fault "${notify} fault"
}
`,
    );
    m.keepalived = p.spawn(p.ns[m.name], [
      "keepalived",
      "--dont-fork",
      "--log-console",
      "--vrrp",
      "--use-file",
      conf,
      "--pid",
      join(p.dir, `keepalived-${m.name}.pid`),
      "--vrrp_pid",
      join(p.dir, `vrrp-${m.name}.pid`),
    ]);
    watch(m.keepalived);
  };
  // a dead box: every process in it gone at once (keepalived's VRRP child too), its links dark
  const die = async (m: Member): Promise<void> => {
    for (const pid of execFileSync("ip", ["netns", "pids", p.ns[m.name]], { encoding: "utf8" })
      .split(/\s+/)
      .filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await Promise.allSettled([m.keepalived && waitExit(m.keepalived), m.ipmasq && waitExit(m.ipmasq)]);
    for (const dev of ["eth1", "eth0", "sync0"]) p.exec(p.ns[m.name], ["ip", "link", "set", dev, "down"]);
  };
  const roleOf = (m: Member): string => {
    try {
      return ha(m).role;
    } catch {
      return "down";
    }
  };
  const { gw1, gw2 } = members;
  t.teardown(async () => {
    for (const m of [gw1, gw2]) {
      m.keepalived?.kill("SIGTERM");
      m.ipmasq?.kill("SIGTERM");
    }
    await Promise.allSettled(
      [gw1, gw2].flatMap((m) => [m.keepalived && waitExit(m.keepalived), m.ipmasq && waitExit(m.ipmasq)]),
    );
  });

  // ---- the pair comes up ------------------------------------------------------------------
  await startIpmasq(gw1);
  await startIpmasq(gw2);
  t.match(
    gw1.log!(),
    /HA pair: table sync with 10\.9\.0\.2:8472; backup \(forwarding nothing/,
    "a pair member starts as backup",
  );
  t.match(
    gw1.log!(),
    /waiting for the WAN: 10\.0\.0\.1 \(--public\) is not on eth0/,
    "and waits for its public address",
  );
  t.equal(
    p.exec(p.ns.gw1, ["ss", "-Hlun", "sport = :8472"]).trim().split("\n").length,
    1,
    "the sync socket is one, on the sync link",
  );
  t.match(
    p.exec(p.ns.gw1, ["ss", "-Hlun", "sport = :8472"]),
    /10\.9\.0\.1%sync0:8472|10\.9\.0\.1:8472/,
    "bound to the sync link's address",
  );
  startKeepalived(gw1);
  startKeepalived(gw2);
  await until(() => roleOf(gw1) === "master" && roleOf(gw2) === "backup", 30_000);
  t.pass("keepalived made gw1 master and gw2 backup (notify scripts ran ipmasq role)");
  await until(() => {
    try {
      p.exec(p.ns.lan, ["ping", "-c", "1", "-W", "1", "10.0.0.254"]);
      return true;
    } catch {
      return false;
    }
  }, 20_000);
  const masquerading = /the WAN is eth0: masquerading as 10\.0\.0\.1/;
  await until(() => masquerading.test(gw1.log!()), 5000).catch(() => undefined); // the log line may trail the first ping
  t.match(gw1.log!(), masquerading, "the master masquerades as the virtual address");

  // ---- traffic through the master ---------------------------------------------------------
  const server = watch(p.spawn(p.ns.wan, [NODE, join(PEERS, "session.js"), "server", "7000"]));
  await server.until(/listening 7000/);
  await waitListening(p.spawn(p.ns.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const path = "/bytes?n=40000000&seed=11";
  const want = p.exec(p.ns.wan, ["sh", "-c", `curl -sS 'http://127.0.0.1:8080${path}' | sha256sum`]).split(" ")[0];
  const downloader = p.spawn(p.ns.lan, [
    "sh",
    "-c",
    `curl -sS --max-time 120 'http://10.0.0.254:8080${path}&rate=2500000' | sha256sum`,
  ]);
  const download = watch(downloader);
  const downloadDone = new Promise((r) => downloader.on("exit", r));
  const session = watch(p.spawn(p.ns.lan, [NODE, join(PEERS, "session.js"), "client", "10.0.0.254", "7000", "40"]));
  // and an IPv6 download, routed (the backup must know its flow: after the failover the first
  // packets it sees of it are the WAN's, which no new flow may begin with)
  const path6 = "/bytes?n=20000000&seed=12";
  const want6 = p.exec(p.ns.wan, ["sh", "-c", `curl -sS 'http://127.0.0.1:8080${path6}' | sha256sum`]).split(" ")[0];
  const downloader6 = p.spawn(p.ns.lan, [
    "sh",
    "-c",
    `curl -sS -6 --max-time 120 'http://[2001:db8:ff::254]:8080${path6}&rate=1500000' | sha256sum`,
  ]);
  const download6 = watch(downloader6);
  const download6Done = new Promise((r) => downloader6.on("exit", r));
  // and one through NAT66, from the unique local address
  const downloader66 = p.spawn(p.ns.lan, [
    "sh",
    "-c",
    `curl -sS -6 --interface fd00:1::10 --max-time 120 'http://[2001:db8:ff::254]:8080${path6}&rate=1500000' | sha256sum`,
  ]);
  const download66 = watch(downloader66);
  const download66Done = new Promise((r) => downloader66.on("exit", r));
  await sleep(3000);
  const synced = JSON.parse(cli(gw2, "conns", "--json")) as Array<{
    proto: string;
    lan: string;
    public: string;
    remote: string;
  }>;
  const onMaster = JSON.parse(cli(gw1, "conns", "--json")) as typeof synced;
  const sessionFlow = onMaster.find((f) => f.proto === "TCP" && f.remote === "10.0.0.254:7000")!;
  t.ok(sessionFlow, `the master has the session's flow (${sessionFlow?.lan} as ${sessionFlow?.public})`);
  t.ok(
    synced.some((f) => f.proto === "TCP" && f.lan === sessionFlow.lan && f.public === sessionFlow.public),
    "the backup has it too, with the same public port",
  );
  t.ok(
    synced.some((f) => f.proto === "UDP" && f.remote === "10.0.0.254:7000"),
    "and the UDP stream's",
  );
  t.ok(
    synced.some((f) => f.remote === "10.0.0.254:8080"),
    "and the download's",
  );
  t.ok(
    synced.some((f) => f.lan.startsWith("[2001:db8:1::10]:") && f.remote === "[2001:db8:ff::254]:8080"),
    "and the IPv6 download's (FLOW6)",
  );
  const nat66 = onMaster.find((f) => f.lan.startsWith("[fd00:1::10]:"));
  t.match(
    nat66?.public,
    /^\[2001:db8:ff::1\]:\d+$/,
    `the master masquerades the NAT66 download as the virtual address (${nat66?.public})`,
  );
  t.ok(
    synced.some((f) => f.lan === nat66?.lan && f.remote === nat66?.remote),
    "the backup has its flow too (FLOW6, with its public port)",
  );
  t.equal(JSON.parse(cli(gw2, "status", "--json")).ha.standbyDrops, 0, "nothing reached the backup's data path");

  // ---- the master dies ----------------------------------------------------------------------
  await die(gw1);
  const diedAt = Date.now();
  await until(() => roleOf(gw2) === "master", 30_000);
  t.pass(`gw2 is master ${Date.now() - diedAt} ms after gw1 died`);
  await downloadDone;
  t.equal(
    download.text().split(" ")[0],
    want,
    `the 40 MB download completed byte-exact across the failover${download.text().startsWith("curl") ? ` (${download.text().trim()})` : ""}`,
  );
  await download6Done;
  t.equal(
    download6.text().split(" ")[0],
    want6,
    `the 20 MB IPv6 download completed byte-exact across the failover${download6.text().startsWith("curl") ? ` (${download6.text().trim()})` : ""}`,
  );
  await download66Done;
  t.equal(
    download66.text().split(" ")[0],
    want6,
    `the 20 MB NAT66 download completed byte-exact across the failover${download66.text().startsWith("curl") ? ` (${download66.text().trim()})` : ""}`,
  );
  await session.until(/\{.*\}/, 60_000);
  const s1 = JSON.parse(/\{.*\}/.exec(session.text())![0]);
  t.equal(s1.tcpError, "", "the interactive session never broke");
  t.ok(
    s1.tcpAnswered >= s1.tcpSent - 2,
    `it still answers: ${s1.tcpAnswered} of ${s1.tcpSent} lines echoed, the longest wait ${s1.tcpLongestWaitMs} ms`,
  );
  t.ok(
    s1.udpAnswered > s1.udpSent / 2,
    `the UDP stream resumed: ${s1.udpAnswered} of ${s1.udpSent} answered, the longest gap ${s1.udpLongestGapMs} ms`,
  );
  const tcpSeen = [...server.text().matchAll(/^tcp (\S+)$/gm)].map((m) => m[1]);
  t.same(
    tcpSeen,
    [sessionFlow.public],
    "the WAN server saw one TCP connection, from the public address and port the master gave it",
  );
  const udp = [...server.text().matchAll(/^udp (\S+) (\d+)$/gm)].map((m) => ({ from: m[1], at: Number(m[2]) }));
  t.same(
    [...new Set(udp.map((u) => u.from))].length,
    1,
    `the UDP stream kept its public address and port (${udp[0]?.from})`,
  );
  const gap = Math.max(...udp.slice(1).map((u, i) => u.at - udp[i].at));
  t.pass(`failover time (the longest silence of the UDP stream at the WAN server): ${gap} ms`);

  // ---- the old master comes back as backup ----------------------------------------------------
  // a rebooted box: no virtual addresses (keepalived died without taking them away), links up
  for (const [addr, dev] of [
    ["192.168.0.1/24", "eth1"],
    ["10.0.0.1/24", "eth0"],
    ["2001:db8:1::1/64", "eth1"],
    ["2001:db8:ff::1/64", "eth0"],
  ])
    p.exec(p.ns.gw1, ["sh", "-c", `ip addr del ${addr} dev ${dev} 2>/dev/null; true`]);
  for (const dev of ["eth1", "eth0", "sync0"]) p.exec(p.ns.gw1, ["ip", "link", "set", dev, "up"]);
  p.exec(p.ns.gw1, ["ip", "route", "replace", "default", "via", "10.0.0.254"]);
  // IPv6 addresses do not outlive a link that went down (keep_addr_on_down is off)
  p.exec(p.ns.gw1, ["ip", "addr", "replace", "2001:db8:1::2/64", "dev", "eth1", "nodad"]);
  p.exec(p.ns.gw1, ["ip", "addr", "replace", "2001:db8:ff::11/64", "dev", "eth0", "nodad"]);
  p.exec(p.ns.gw1, ["ip", "-6", "route", "replace", "default", "via", "2001:db8:ff::254"]);
  const session2 = watch(p.spawn(p.ns.lan, [NODE, join(PEERS, "session.js"), "client", "10.0.0.254", "7000", "25"]));
  await sleep(2000);
  await startIpmasq(gw1);
  startKeepalived(gw1);
  await until(() => {
    try {
      return ha(gw1).counts.fullReceived > 0 && roleOf(gw1) === "backup";
    } catch {
      return false;
    }
  }, 30_000);
  t.pass("the old master is back as backup (nopreempt) and received the whole table");
  const back = JSON.parse(cli(gw1, "conns", "--json")) as typeof synced;
  const live = (JSON.parse(cli(gw2, "conns", "--json")) as typeof synced).filter(
    (f) => f.proto === "TCP" && f.remote === "10.0.0.254:7000",
  );
  t.ok(
    live.length >= 1 && live.every((f) => back.some((b) => b.lan === f.lan && b.public === f.public)),
    "it holds the master's sessions with their public ports",
  );
  t.equal(roleOf(gw2), "master", "the master stayed master");
  t.same(
    ha(gw1).counts.refused,
    { stranger: 0, short: 0, magic: 0, version: 0, mac: 0, malformed: 0, replay: 0, skew: 0 },
    "no datagram was refused",
  );

  // ---- the master's WAN link is cut: FAULT, and back to gw1 ----------------------------------
  await sleep(3000);
  p.exec(p.ns.gw2, ["ip", "link", "set", "eth0", "down"]);
  const cutAt = Date.now();
  await until(() => roleOf(gw2) === "fault" && roleOf(gw1) === "master", 30_000);
  t.pass(`the WAN link of gw2 cut: gw2 is at fault, gw1 master ${Date.now() - cutAt} ms later`);
  await session2.until(/\{.*\}/, 60_000);
  const s2 = JSON.parse(/\{.*\}/.exec(session2.text())![0]);
  t.equal(s2.tcpError, "", "a session through both changes never broke");
  t.ok(
    s2.tcpAnswered >= s2.tcpSent - 2,
    `${s2.tcpAnswered} of ${s2.tcpSent} lines echoed, the longest wait ${s2.tcpLongestWaitMs} ms`,
  );
  t.ok(
    s2.udpAnswered > s2.udpSent / 2,
    `UDP: ${s2.udpAnswered} of ${s2.udpSent} answered, the longest gap ${s2.udpLongestGapMs} ms`,
  );
  t.ok(JSON.parse(cli(gw2, "status", "--json")).ha.standbyDrops >= 0, "the faulty gateway reports what it dropped");

  // ---- flows that end on the master end on the peer: DELETE and DELETE6 ----------------------
  const v6Flows = (m: Member): number =>
    (JSON.parse(cli(m, "conns", "--json")) as typeof synced).filter((f) => f.lan.startsWith("[")).length;
  t.ok(v6Flows(gw2) >= 1, `the peer holds IPv6 flows (${v6Flows(gw2)})`);
  cli(gw1, "flush");
  await until(() => v6Flows(gw2) === 0, 10_000);
  t.pass("ipmasq flush on the master: the peer's IPv6 entries went too (DELETE6)");
});

// Without the key nothing of the peer is taken: a datagram with a wrong MAC, an old one sent
// again, one from an address that is not the peer's.
t.test("the sync refuses forged, replayed and strange datagrams", async (t) => {
  const p = makePair();
  t.teardown(() => p.destroy());
  const { key, config } = pairFiles(p);
  const state = join(p.dir, "gw1");
  const g = p.spawn(p.ns.gw1, [
    NODE,
    BUNDLE,
    "run",
    "--config",
    config,
    "--state-dir",
    state,
    "--public",
    "10.0.0.1",
    "--sync-peer",
    "10.9.0.2",
    "--sync-key",
    key,
    "--sync-dev",
    "sync0",
  ]);
  const w = watch(g);
  t.teardown(async () => {
    g.kill("SIGTERM");
    await waitExit(g).catch(() => undefined);
  });
  await w.until(/ready\n/);
  // the peer's side, by hand: scapy-free, a node script with the same encoder
  const send = (script: string, from = "10.9.0.2"): void => {
    p.exec(
      p.ns.gw2,
      [
        NODE,
        "--import",
        "tsx",
        "-e",
        `
      const { encode } = require(${JSON.stringify(join(__dirname, "..", "host", "sync", "sync-wire.ts"))});
      const dgram = require("node:dgram");
      const key = Buffer.from(require("node:fs").readFileSync(${JSON.stringify(key)}, "utf8").trim());
      const s = dgram.createSocket("udp4");
      const flow = { proto: 6, tcpState: 1, fixed: false, alg: false, lanAddr: 0xc0a8000a, lanPort: 40000, remoteAddr: 0x0a0000fe, remotePort: 80, wanAddr: 0x0a000001, wanPort: 40000, idle: 0, age: 1 };
      const seq = BigInt(Date.now()) * 1000n;
      ${script}
      s.bind(0, ${JSON.stringify(from)}, () => { let n = out.length; for (const b of out) s.send(b, 8472, "10.9.0.1", () => { if (--n === 0) s.close(); }); });
    `,
      ],
      30_000,
    );
  };
  const counts = (): { receivedRecords: number; refused: Record<string, number> } =>
    JSON.parse(p.exec(p.ns.gw1, [NODE, BUNDLE, "status", "--json", "--state-dir", state])).ha.counts;
  const conns = (): string => p.exec(p.ns.gw1, [NODE, BUNDLE, "conns", "--state-dir", state]);

  send(
    `const out = [encode(Buffer.from("not the key, but as long as the key is"), { kind: 0, sender: 7n, seq, role: "master", full: false, fullFrom: 0 }, [{ type: 1, flow }])];`,
  );
  await until(() => counts().refused.mac === 1);
  t.notMatch(
    conns(),
    /192\.168\.0\.10:40000/,
    "a datagram with the wrong key is refused (mac), its flow not installed",
  );

  send(
    `const good = encode(key, { kind: 0, sender: 7n, seq, role: "master", full: false, fullFrom: 0 }, [{ type: 1, flow }]); const out = [good, good];`,
  );
  await until(() => counts().refused.replay === 1);
  t.match(conns(), /192\.168\.0\.10:40000/, "the right key: the flow is installed");
  t.pass("the same datagram again is refused (replay)");

  send(
    `const out = [encode(key, { kind: 0, sender: 8n, seq: seq - 120000000n, role: "master", full: false, fullFrom: 0 }, [{ type: 2, key: flow }])];`,
  );
  await until(() => counts().refused.skew === 1);
  t.match(conns(), /192\.168\.0\.10:40000/, "a datagram two minutes old is refused (skew): the flow stays");

  send(
    `const out = [encode(key, { kind: 0, sender: 8n, seq: seq + 1000n, role: "master", full: false, fullFrom: 0 }, [{ type: 4, json: "{not a policy" }, { type: 4, json: "{}" }])];`,
  );
  await until(() => /the peer's policy was not applied: it is not a policy/.test(w.text()));
  t.match(
    w.text(),
    /the peer's policy was not applied: it is not JSON/,
    "a policy that is not JSON, with the right key, is refused and the gateway goes on",
  );
  t.match(w.text(), /the peer's policy was not applied: it is not a policy/, "and so is JSON that is not a policy");

  p.exec(p.ns.gw2, ["ip", "addr", "add", "10.9.0.3/29", "dev", "sync0"]);
  send(
    `const out = [encode(key, { kind: 0, sender: 9n, seq, role: "master", full: false, fullFrom: 0 }, [{ type: 2, key: flow }])];`,
    "10.9.0.3",
  );
  await until(() => counts().refused.stranger === 1);
  t.match(conns(), /192\.168\.0\.10:40000/, "one from another address is refused (stranger), even with the key");
  t.match(w.text(), /ready/, "and the gateway runs on");
});
