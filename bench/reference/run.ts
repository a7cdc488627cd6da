// Runs the C reference forwarder (forwarder.c) on ipmasq's own TUN setup and wiring: the devices
// are made by host/tun/tun.ts and wired by host/kernel/wiring.ts and dynamic-rules.ts, exactly as
// `ipmasq run` does for a LAN on eth1 and a WAN on eth0; only the data path differs. Run inside
// the gateway's namespace; passes on the forwarder's "ready" and counters (SIGUSR1 asks for
// them), and on SIGTERM stops it, undoes the wiring and removes the devices.
//   ip netns exec GW tsx bench/reference/run.ts FORWARDER PUBLIC_ADDR QUEUES
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTun, setPersist, closeTun } from "../../host/tun/tun";
import { steerQueues } from "../../host/tun/steering";
import { Wiring, ipv6Enabled } from "../../host/kernel/wiring";
import { dynamicRules } from "../../host/kernel/dynamic-rules";
import { DEFAULT_GRO_HOLD_US, DEFAULT_GRO_BUSY_PPS, offloadSettings } from "../../host/kernel/receive-offload";
import { ReceiveHold, HOLD_SAMPLE_MS } from "../../host/kernel/receive-hold";
import { emptyPolicy } from "../../host/policy/rules";
import { parseAddr } from "../../host/net/addr";

const [binary, publicAddr, queuesArg] = process.argv.slice(2);
const queues = Number(queuesArg);
const TUN = "masqc",
  TABLE = 4342,
  MTU = 1500;
const NAT_RANGES = ["32768-60999", "600-1023"]; // ipmasq's defaults
const devices = [
  { iface: "eth1", name: `${TUN}-1`, table: TABLE + 1 },
  { iface: "eth0", name: `${TUN}-2`, table: TABLE + 2 },
];

const dir = mkdtempSync(join(tmpdir(), "ipmasq-reference-"));
const journal = join(dir, "wiring.json");
const names = [TUN, ...devices.map((d) => d.name)];
const cleanUp = (): void => {
  Wiring.undo(journal);
  Wiring.deleteDevices(names);
  rmSync(dir, { recursive: true, force: true });
};

try {
  // the devices outlive these fds (persistent) until the forwarder attaches its own queues
  for (const name of names) {
    const t = openTun(name, 1);
    setPersist(t.fds[0], true);
    // both directions of a flow on one queue, as ipmasq steers them (the program stays with the device)
    const why = steerQueues(t.fds, devices.find((d) => d.name === name)?.iface === "eth0" ? "source" : "destination");
    if (why) process.stderr.write(`queue steering: ${why}\n`);
    closeTun(t);
  }
  const w = new Wiring(journal, { tun: TUN, table: TABLE });
  w.applyBase({ tun: TUN, table: TABLE, mtu: MTU, portMin: 32768, portMax: 60999 });
  for (const d of devices) w.addDevice(d, MTU);
  w.syncRules(
    dynamicRules({
      base: { tun: TUN, table: TABLE },
      devices: w.devices,
      wan: "eth0",
      publicAddr: parseAddr(publicAddr),
      natRanges: NAT_RANGES,
      policy: emptyPolicy(),
      ipv6: ipv6Enabled(),
    }),
  );
  w.enableForwarding6();
  const r = w.tuneReceive(["eth1", "eth0"], offloadSettings());
  if (r.problem) process.stderr.write(`${r.problem}\n`);
  // bursts held as ipmasq holds them: while an interface is busy
  const hold = new ReceiveHold(DEFAULT_GRO_HOLD_US, DEFAULT_GRO_BUSY_PPS, w, (m) => process.stderr.write(`${m}\n`));
  setInterval(() => hold.sample(["eth1", "eth0"]), HOLD_SAMPLE_MS).unref();
} catch (e) {
  cleanUp();
  throw e;
}

// the forwarder's "ready" and counter lines go straight to our output
const child = spawn(binary, [publicAddr, String(queues), ...names], { stdio: ["ignore", "inherit", "inherit"] });
for (const sig of ["SIGTERM", "SIGINT", "SIGUSR1"] as const) process.on(sig, () => child.kill(sig));
child.on("exit", (code) => {
  cleanUp();
  process.exit(code ?? 1);
});
