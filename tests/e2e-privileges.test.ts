// Least privilege: the gateway runs with CAP_NET_ADMIN and CAP_BPF alone (the bounding set the systemd unit
// gives it, tried here with setpriv), and the unit `ipmasq install` writes parses and carries
// the hardening (systemd-analyze).
import t from "tap";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { makeTopology, writeConfig, startGateway, waitExit } from "../harness/topology";
import { kernelState } from "../harness/kernel-state";
import { BUNDLE } from "../harness/ipmasq-cli";

const CAP_NET_ADMIN = 1n << 12n;
const CAP_BPF = 1n << 39n;

t.test("CAP_NET_ADMIN and CAP_BPF are all the gateway needs", async (t) => {
  const topo = makeTopology("caps");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const before = kernelState(topo, topo.gw);
  // startGateway runs `node BUNDLE run ...`; setpriv in front bounds every capability but these
  const run = (caps: string): ReturnType<typeof startGateway> =>
    startGateway(
      topo,
      ["--config", writeConfig(topo)],
      state,
      [],
      ["setpriv", `--bounding-set=-all,${caps}`, "--inh-caps=-all"],
    );
  let g = await run("+net_admin,+bpf");
  const caps = /CapEff:\s*([0-9a-f]+)/.exec(topo.exec(topo.gw, ["cat", `/proc/${g.proc.pid}/status`]))![1];
  t.equal(
    BigInt(`0x${caps}`),
    CAP_NET_ADMIN | CAP_BPF,
    "the running gateway holds CAP_NET_ADMIN and CAP_BPF and nothing else",
  );
  t.match(topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.0.0.2"]), /1 received/, "and forwards");
  t.match(g.log(), /receive offload on eth1, eth0/, "receive offload (ethtool, sysfs) works with it too");
  t.notMatch(g.log(), /steering the TUN queues failed/, "and the queue steering program loads");
  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  t.equal(kernelState(topo, topo.gw), before, "and puts everything back on stop");

  g = await run("+net_admin");
  t.match(
    g.log(),
    /a flow's two directions may be read by different workers \(costs CPU, not correctness\): steering the TUN queues failed: loading it needs CAP_BPF or CAP_SYS_ADMIN \(EPERM\)/,
    "without CAP_BPF: the log says what is missing and what it costs",
  );
  t.match(
    topo.exec(topo.lan, ["ping", "-c", "1", "-W", "2", "10.0.0.2"]),
    /1 received/,
    "and it forwards all the same",
  );
  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  t.equal(kernelState(topo, topo.gw), before, "and puts everything back on stop");
});

t.test("the systemd unit parses and is hardened", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "ipmasq-unit-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  execFileSync(process.execPath, [BUNDLE, "install", "--init", "systemd", "--root", root]);
  const unit = join(root, "etc/systemd/system/ipmasq.service");
  const text = readFileSync(unit, "utf8");
  for (const line of [
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_BPF",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ReadWritePaths=/run/ipmasq -/etc/ipmasq.conf",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "RestartSec=2",
    "DeviceAllow=/dev/net/tun rw",
  ]) {
    t.ok(text.split("\n").includes(line), line);
  }
  // verify also runs man(1) for the unit's Documentation=: the pages install put under the root
  const env = { ...process.env, MANPATH: join(root, "usr/local/share/man") };
  t.equal(
    execFileSync("systemd-analyze", ["verify", unit], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env }),
    "",
    "systemd-analyze verify: no complaint, the manual pages it names included",
  );
  const security = execFileSync("systemd-analyze", ["security", "--offline=true", unit], { encoding: "utf8" });
  const level = Number(/Overall exposure level for ipmasq\.service: ([\d.]+)/.exec(security)![1]);
  t.ok(
    level <= 4.5,
    `systemd-analyze security: exposure ${level} (a root network service with no hardening scores 9.6)`,
  );
});
