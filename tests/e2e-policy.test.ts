// Policy and operations end to end: the seed's rc.ipmasq as written, bad rule files, live
// ipchains changes with established connections flowing, listings with counters, port forwarding
// with hairpin, transparent proxy (REDIRECT), save.
import t from "tap";
import { join } from "node:path";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { makeTopology, startGateway, waitExit, waitListening, outcome, until } from "../harness/topology";
import { kernelState } from "../harness/kernel-state";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");
import { NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

const SEED_RC_IPMASQ = `#!/bin/sh

echo "1" > /proc/sys/net/ipv4/ip_forward

ipchains -P forward DENY

ipchains -A forward -s 192.168.0.0/24 -j MASQ

/sbin/depmod -a
/sbin/modprobe ip_masq_ftp
`;

t.test("policy and operations", async (t) => {
  const topo = makeTopology("pol");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  // the commands that talk to the gateway find it through the state directory; check, install and
  // uninstall need none (and take no such option)
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "80"]));
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "server", "5300"]));
  await waitListening(topo.spawn(topo.gw, [NODE, join(PEERS, "http-server.js"), "3128"]));
  const before = kernelState(topo, topo.gw);

  await t.test("a bad rule file is refused whole, with file:line:column, and nothing is applied", async (t) => {
    const bad = join(topo.dir, "bad.conf");
    writeFileSync(
      bad,
      "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\nipchains -A forward -s 10.0.0.0/8 -j MASK\n",
    );
    const err = (() => {
      try {
        ipmasq("check", bad);
        return "";
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    t.match(err, `${bad}:3:38: unknown target "MASK"`, "check names file, line, column and reason");
    const run = (() => {
      try {
        ipmasq("run", "--config", bad);
        return "";
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    t.match(run, /unknown target "MASK"[\s\S]*nothing was applied/, "run refuses it");
    t.equal(kernelState(topo, topo.gw), before, "the kernel is untouched");
    writeFileSync(bad, "ipchains -A forward -s 192.168.0.0/33 -j MASQ\n");
    const slash33 = outcome(() => ipmasq("check", bad));
    t.equal(slash33.code, 1, "a /33 prefix is refused");
    t.equal(slash33.out.split("\n")[0], `${bad}:1:24: prefix length /33 is more than 32`, "saying where and why");
    t.equal(slash33.out.split("\n")[2], `  ${" ".repeat(23)}^`, "with a caret under the column");
  });

  const config = join(topo.dir, "rc.ipmasq");
  writeFileSync(config, SEED_RC_IPMASQ);
  t.match(
    ipmasq("check", config),
    /ok \(1 rule, 0 port forwards, forward policy DENY\)/,
    "the seed's rc.ipmasq passes check as written",
  );
  const g = await startGateway(topo, ["--config", config], state);
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });

  await t.test("the seed's script brings up a working gateway", async (t) => {
    t.match(topo.exec(topo.lan, ["ping", "-c", "2", "-i", "0.2", "10.0.0.2"]), /2 received/);
    t.match(
      topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "hi"]),
      /seen 10\.0\.0\.1/,
    );
    const sock = topo.exec(topo.gw, ["sh", "-c", `ls ${state}/control-*.sock`]).trim();
    t.equal(statSync(sock).mode & 0o777, 0o600, "the control socket is root only (0600)");
  });

  await t.test("listings: rules with counters, masquerading entries, JSON", async (t) => {
    const list = ipmasq("ipchains", "-L", "-n", "-v");
    t.match(list, /Chain forward \(policy DENY: \d+ packets, \d+ bytes\):/, "forward chain with its policy");
    const masqLine = list.split("\n").find((l) => /MASQ/.test(l)) ?? "";
    t.match(
      masqLine,
      /^\s+[1-9]\d* +\d+ MASQ\s+all\s+\S+\s+-\s+192\.168\.0\.0\/24\s+0\.0\.0\.0\/0\s+n\/a/,
      `MASQ rule counted (${masqLine.trim()})`,
    );
    const json = JSON.parse(ipmasq("ipchains", "-L", "forward", "--json"));
    t.equal(json[0].rules[0].target, "MASQ");
    t.ok(json[0].rules[0].packets >= 2, "JSON has the counters");
    const masq = ipmasq("ipchains", "-M", "-L", "-n");
    t.match(masq, /IP masquerading entries/);
    t.match(
      masq,
      /UDP +\d\d:\d\d\.\d\d 192\.168\.0\.2 +10\.0\.0\.2 +\d+ \(\d+\) -> 5353/,
      "the UDP flow is listed as ipchains did",
    );
    t.ok(
      JSON.parse(ipmasq("ipchains", "-M", "-L", "--json")).some((r: { proto: string }) => r.proto === "ICMP"),
      "-M -L --json",
    );
  });

  await t.test("live change: established connections keep flowing, new ones see the new rule", async (t) => {
    const n = 8 * 1024 * 1024;
    const file = join(topo.dir, "slow");
    const curl = topo.spawn(topo.lan, [
      "curl",
      "-sS",
      "-o",
      file,
      `http://10.0.0.2:8080/bytes?n=${n}&seed=5&rate=2000000`,
    ]);
    const done = new Promise<number | null>((resolve) => curl.on("exit", resolve));
    await until(() => {
      try {
        return statSync(file).size > 0;
      } catch {
        return false;
      }
    });
    ipmasq("ipchains", "-I", "forward", "1", "-p", "tcp", "-d", "10.0.0.2", "8080", "-j", "DENY");
    t.equal(
      outcome(() => topo.exec(topo.lan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.2:8080/"])).code,
      28,
      "a new connection is dropped by the inserted rule (no answer at all)",
    );
    t.equal(curl.exitCode, null, "while the download started before it goes on");
    t.match(
      topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "still"]),
      /seen 10\.0\.0\.1/,
      "other traffic is still masqueraded",
    );
    t.equal(await done, 0, "the download started before the change completes");
    t.equal(topo.exec(topo.lan, ["sha256sum", file]).split(" ")[0], sha256Of(n, 5), "byte-exact");
    ipmasq("ipchains", "-D", "forward", "1");
    t.match(
      topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"]),
      /10\.0\.0\.1/,
      "deleting the rule lets new connections through again",
    );
    const err = (() => {
      try {
        ipmasq("ipchains", "-A", "forward", "-j", "NOPE");
        return "";
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    t.match(err, /unknown target "NOPE"/, "a bad live command is refused with the reason");
    t.equal(JSON.parse(ipmasq("ipchains", "-L", "forward", "--json"))[0].rules.length, 1, "and changes nothing");
  });

  await t.test("port forwarding, from outside and hairpinned from the LAN", async (t) => {
    t.equal(
      outcome(() => topo.exec(topo.wan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:8080/"])).code,
      7,
      "closed before the port forward (the gateway refuses the connection)",
    );
    ipmasq("portfw", "-a", "-P", "tcp", "-L", "10.0.0.1", "8080", "-R", "192.168.0.2", "80");
    t.match(ipmasq("portfw", "-l"), /TCP {2}10\.0\.0\.1 +192\.168\.0\.2 +8080 +80/, "portfw -l lists it");
    const outside = JSON.parse(topo.exec(topo.wan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.1:8080/"]));
    t.same(outside, { from: "10.0.0.2" }, "the WAN client reaches the LAN server, which sees the real client");
    const n = 4 * 1024 * 1024;
    const dl = join(topo.dir, "pf");
    topo.exec(topo.wan, ["curl", "-sS", "-o", dl, `http://10.0.0.1:8080/bytes?n=${n}&seed=9`]);
    t.equal(
      topo.exec(topo.wan, ["sha256sum", dl]).split(" ")[0],
      sha256Of(n, 9),
      "4 MB through the port forward, byte-exact",
    );
    const hairpin = JSON.parse(topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.1:8080/"]));
    t.same(
      hairpin,
      { from: "10.0.0.1" },
      "hairpin: a LAN client using the public address reaches it, and the server sees the public source",
    );
    ipmasq("portfw", "-d", "-P", "tcp", "-L", "10.0.0.1", "8080");
    t.equal(
      outcome(() => topo.exec(topo.wan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:8080/"])).code,
      7,
      "closed again after portfw -d",
    );

    ipmasq("portfw", "-a", "-P", "udp", "-L", "10.0.0.1", "5300", "-R", "192.168.0.2", "5300");
    t.match(
      topo.exec(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.1", "5300", "dns?"]),
      /^seen 10\.0\.0\.2:\d+ dns\?/,
      "a UDP port forward carries a WAN client's datagram to the LAN server and its answer back",
    );
    ipmasq("portfw", "-d", "-P", "udp", "-L", "10.0.0.1", "5300");
  });

  await t.test("REJECT, -R, -Z, -F and a live -P", async (t) => {
    const forward = (): Array<{ target: string; packets: number; text: string }> =>
      JSON.parse(ipmasq("ipchains", "-L", "forward", "--json"))[0].rules;
    ipmasq("ipchains", "-I", "forward", "1", "-p", "udp", "-d", "10.0.0.2", "5353", "-j", "REJECT");
    const rejected = outcome(() =>
      topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "connected", "10.0.0.2", "5353", "hi"]),
    );
    t.same(
      [rejected.code, rejected.out.trim()],
      [2, "refused"],
      "REJECT: the LAN client hears port unreachable at once",
    );
    t.ok(forward()[0].packets >= 1, `counted on the REJECT rule (${forward()[0].packets} packets)`);
    ipmasq("ipchains", "-D", "forward", "1");

    ipmasq("ipchains", "-R", "forward", "1", "-s", "192.168.0.0/24", "-d", "10.0.0.0/8", "-j", "MASQ");
    t.same(
      forward().map((r) => r.text),
      ["-s 192.168.0.0/24 -d 10.0.0.0/8 -j MASQ"],
      "-R replaces the rule in place",
    );
    t.match(
      topo.exec(topo.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "after-R"]),
      /seen 10\.0\.0\.1/,
      "and traffic follows it",
    );
    t.ok(forward()[0].packets > 0, "which counts it");
    ipmasq("ipchains", "-Z");
    t.equal(forward()[0].packets, 0, "-Z zeroes the counters");

    ipmasq("ipchains", "-F", "forward");
    t.same(forward(), [], "-F empties the chain");
    t.equal(
      outcome(() => topo.exec(topo.lan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.2:8080/"])).code,
      28,
      "with the policy DENY nothing new crosses",
    );
    topo.exec(topo.wan, ["ip", "route", "add", "192.168.0.0/24", "via", "10.0.0.1"]);
    try {
      ipmasq("ipchains", "-P", "forward", "ACCEPT");
      t.same(
        JSON.parse(topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"])),
        { from: "192.168.0.2" },
        "-P forward ACCEPT: routed as it is, not masqueraded",
      );
    } finally {
      ipmasq("ipchains", "-P", "forward", "DENY");
      ipmasq("ipchains", "-A", "forward", "-s", "192.168.0.0/24", "-j", "MASQ");
      topo.exec(topo.wan, ["ip", "route", "del", "192.168.0.0/24"]);
    }
    t.match(
      topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"]),
      /10\.0\.0\.1/,
      "the seed's two lines again: masqueraded",
    );
  });

  await t.test("transparent proxy: REDIRECT LAN web traffic to a port of the gateway", async (t) => {
    ipmasq("ipchains", "-A", "input", "-p", "tcp", "-s", "192.168.0.0/24", "-d", "0/0", "80", "-j", "REDIRECT", "3128");
    const res = topo.exec(topo.lan, ["curl", "-sS", "-D", "-", "--max-time", "5", "http://10.0.0.2:80/"]);
    t.match(res, /\{"from":"192\.168\.0\.2"\}/, "the proxy on the gateway answered, seeing the LAN client");
    const n = 3 * 1024 * 1024;
    const dl = join(topo.dir, "proxied");
    topo.exec(topo.lan, ["curl", "-sS", "-o", dl, `http://10.0.0.2:80/bytes?n=${n}&seed=3`]);
    t.equal(topo.exec(topo.lan, ["sha256sum", dl]).split(" ")[0], sha256Of(n, 3), "3 MB through the proxy, byte-exact");
    t.match(
      topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"]),
      /10\.0\.0\.1/,
      "other ports are masqueraded as before",
    );
    ipmasq("ipchains", "-D", "input", "1");
  });

  await t.test("save writes the live rules back, and they load again", async (t) => {
    ipmasq("portfw", "-a", "-P", "udp", "-L", "10.0.0.1", "5000", "-R", "192.168.0.2", "5000");
    ipmasq("ipchains", "-N", "web");
    ipmasq("ipchains", "-A", "web", "-p", "tcp", "-d", "0/0", "443", "-j", "RETURN");
    ipmasq("save");
    const saved = readFileSync(config, "utf8");
    t.match(saved, /ipchains -P forward DENY/);
    t.match(saved, /ipchains -A forward -s 192\.168\.0\.0\/24 -j MASQ/);
    t.match(saved, /ipchains -N web/);
    t.match(saved, /ipmasqadm portfw -a -P udp -L 10\.0\.0\.1 5000 -R 192\.168\.0\.2 5000/);
    t.match(ipmasq("check", config), /ok \(2 rules, 1 port forward, forward policy DENY\)/);
  });

  g.proc.kill("SIGTERM");
  t.equal(await waitExit(g.proc), 0);
  t.equal(kernelState(topo, topo.gw), before, "the kernel is as before, port-forward and redirect rules included");
});
