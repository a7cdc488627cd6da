// What the gateway sends each side, IPv6, captured where it arrives (-Q in: a host's own outgoing
// packets are captured before their checksum is filled in; no receive offload merging them), and
// every TCP, UDP and ICMPv6 checksum in the captures recomputed by scapy: the translation tests'
// (NPTv6, NAT66) proof that no checksum went wrong and no inside address left.
import { join } from "node:path";
import { type Topology, until, sleep } from "./topology";

const CHECK_PCAP = `
import sys
from scapy.all import rdpcap, raw, IPv6, TCP, UDP
from scapy.layers.inet6 import _ICMPv6, IPv6ExtHdrFragment
bad, n, addrs, first = 0, 0, set(), ""
for p in rdpcap(sys.argv[1]):
    if IPv6 not in p: continue
    ip = p[IPv6]
    addrs.add(ip.src)
    if IPv6ExtHdrFragment in ip: continue  # a fragment's checksum is the whole datagram's
    for layer in (TCP, UDP, _ICMPv6):
        if layer in ip and not ip.haslayer("IPerror6"):
            l = ip[layer]
            got = l.chksum
            del l.chksum
            again = IPv6(raw(ip))[layer].chksum
            n += 1
            if got != again:
                bad += 1
                if bad == 1: first = p.summary() + " len %d" % len(p)
            break
print(n, bad, " ".join(sorted(addrs)))
print(first)
`;

interface Asserts {
  ok(v: unknown, msg: string): void;
  equal(a: unknown, b: unknown, msg: string): void;
  notOk(v: unknown, msg: string): void;
  comment(msg: string): void;
}

export interface Captures6 {
  stop(): Promise<void>;
  // every checksum right on both sides, a few hundred packets at least, no source from `inside` on the WAN
  check(t: Asserts, inside: string): void;
}

export async function captureBothSides6(topo: Topology): Promise<Captures6> {
  const files = { wan: join(topo.dir, "wan.pcap"), lan: join(topo.dir, "lan.pcap") };
  topo.exec(topo.wan, ["ethtool", "-K", "wan0", "gro", "off"]);
  topo.exec(topo.lan, ["ethtool", "-K", "lan0", "gro", "off"]);
  const dumps = [
    topo.spawn(topo.wan, ["tcpdump", "-n", "-U", "-s", "0", "-Q", "in", "-i", "wan0", "-w", files.wan, "ip6"]),
    topo.spawn(topo.lan, ["tcpdump", "-n", "-U", "-s", "0", "-Q", "in", "-i", "lan0", "-w", files.lan, "ip6"]),
  ];
  let said = "";
  for (const d of dumps) d.stderr!.on("data", (x) => (said += x));
  await until(() => (said.match(/listening on/g) ?? []).length === 2);
  return {
    async stop() {
      await sleep(300);
      for (const d of dumps) d.kill("SIGINT");
      await sleep(300);
    },
    check(t, inside) {
      for (const [side, file] of Object.entries(files)) {
        const [summary, firstBad] = topo.exec(topo.wan, ["/usr/bin/python3", "-c", CHECK_PCAP, file]).split("\n");
        const [count, bad, ...addrs] = summary.trim().split(/\s+/);
        if (Number(bad)) t.comment(`${side}: the first wrong one: ${firstBad}`);
        // (how many ACKs a download sends back varies with the hosts' offloads: hundreds, at least)
        t.ok(Number(count) > 200, `${side}: ${count} TCP, UDP and ICMPv6 packets captured`);
        t.equal(Number(bad), 0, `${side}: every checksum right by scapy's recomputation`);
        if (side === "wan")
          t.notOk(
            addrs.some((a) => a.startsWith(inside)),
            "no packet on the WAN comes from an inside address",
          );
      }
    },
  };
}
