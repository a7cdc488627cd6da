// coturn's turnserver as a STUN server (what turnutils_natdiscovery measures a NAT against), on the
// WAN host's addresses given; resolves once it listens on every one.
import { type Topology, until } from "./topology";

export async function stunServer(topo: Topology, addrs: string[]): Promise<void> {
  topo.spawn(topo.wan, [
    "turnserver",
    "-n",
    "--stun-only",
    "--no-auth",
    "--no-cli",
    ...addrs.map((a) => `--listening-ip=${a}`),
    "--log-file=stdout",
  ]);
  await until(
    () => topo.exec(topo.wan, ["ss", "-Hlun", "sport = :3478"]).split("\n").filter(Boolean).length >= addrs.length,
  );
}
