// Clear errors, and nothing changed, when something outside ipmasq is missing: no /dev/net/tun,
// no CAP_NET_ADMIN, the TUN name taken. (No WAN at start is not an error: e2e-field.test.ts.)
import t from "tap";
import { join } from "node:path";
import { makeTopology, writeConfig } from "../harness/topology";
import { kernelState } from "../harness/kernel-state";
import { BUNDLE } from "../harness/ipmasq-cli";

t.test("errors name what is missing, and change nothing", async (t) => {
  const topo = makeTopology("err");
  t.teardown(() => topo.destroy());
  const config = writeConfig(topo);
  const state = join(topo.dir, "state");
  const before = kernelState(topo, topo.gw);
  const run = (prefix: string[], extra: string[] = []): { code: number; err: string } => {
    try {
      topo.exec(
        topo.gw,
        [...prefix, process.execPath, BUNDLE, "run", "--config", config, "--state-dir", state, ...extra],
        { timeout: 30_000 },
      );
      return { code: 0, err: "" };
    } catch (e) {
      return { code: (e as { status: number }).status, err: String((e as { stderr: string }).stderr) };
    }
  };

  const noCap = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]);
  t.equal(noCap.code, 1);
  t.match(noCap.err, /needs CAP_NET_ADMIN \(run it as root\)/, "without privileges: says which capability is missing");

  // a private mount namespace hides /dev/net/tun from this one command only
  const noTun = run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /dev/net && exec "$@"', "sh"]);
  t.equal(noTun.code, 1);
  t.match(
    noTun.err,
    /\/dev\/net\/tun does not exist: the kernel's tun driver is missing/,
    "without /dev/net/tun: says so",
  );
  t.equal(kernelState(topo, topo.gw), before, "and nothing was changed");

  topo.exec(topo.gw, ["ip", "link", "add", "masq0", "type", "veth", "peer", "name", "masq0p"]);
  const taken = run([]);
  t.equal(taken.code, 1);
  t.match(taken.err, /interface name masq0 is in use/, "the TUN name taken: says so");
  topo.exec(topo.gw, ["ip", "link", "del", "masq0"]);

  const badOpt = run([], ["--workers", "zero"]);
  t.equal(badOpt.code, 2);
  t.match(badOpt.err, /--workers must be a whole number from 1 to 64, got "zero"/, "a bad option: usage error");
  t.equal(kernelState(topo, topo.gw), before, "after all of these the kernel is as before");
});
