// The ip rules that follow the network and the policy (host/kernel/dynamic-rules.ts), as a table
// of named cases: the seed's network, a WAN that has no address yet, port forwards, a REDIRECT
// (the seed's transparent proxy) and UPnP mappings outside the NAT ranges.
import t from "tap";
import { dynamicRules, type RuleInputs } from "../host/kernel/dynamic-rules";
import { parseConfig } from "../host/config/config-file";
import { parseAddr } from "../host/net/addr";

const SEED = "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n";
const devices = [
  { iface: "eth1", name: "masq0-1", table: 4243 },
  { iface: "eth0", name: "masq0-2", table: 4244 },
];
const inputs = (over: Partial<RuleInputs> & { rules?: string } = {}): RuleInputs => ({
  base: { tun: "masq0", table: 4242 },
  devices,
  wan: "eth0",
  publicAddr: parseAddr("10.0.0.1"),
  natRanges: ["32768-60999", "600-1023"],
  policy: parseConfig("rc.ipmasq", SEED + (over.rules ?? "")).policy,
  ...over,
});
const lines = (x: RuleInputs): string[] => dynamicRules(x).map((r) => r.join(" "));
const EVERY_INTERFACE = ["pref 200 iif eth1 lookup 4243", "pref 200 iif eth0 lookup 4244"];

t.test(
  "the seed's network: replies to the public address come in from the WAN, hairpins from the LAN, everything else by interface",
  async (t) => {
    t.same(lines(inputs()), [
      "pref 10 iif eth0 ipproto tcp dport 32768-60999 lookup 4244",
      "pref 10 iif eth1 to 10.0.0.1 ipproto tcp dport 32768-60999 lookup 4243",
      "pref 11 iif eth0 ipproto udp dport 32768-60999 lookup 4244",
      "pref 11 iif eth1 to 10.0.0.1 ipproto udp dport 32768-60999 lookup 4243",
      "pref 12 iif eth0 ipproto tcp dport 600-1023 lookup 4244",
      "pref 12 iif eth1 to 10.0.0.1 ipproto tcp dport 600-1023 lookup 4243",
      "pref 13 iif eth0 ipproto udp dport 600-1023 lookup 4244",
      "pref 13 iif eth1 to 10.0.0.1 ipproto udp dport 600-1023 lookup 4243",
      "pref 14 iif eth0 ipproto icmp lookup 4244",
      "pref 14 iif eth0 to 10.0.0.1 ipproto udp lookup 4244", // UDP fragments carry no ports
      ...EVERY_INTERFACE,
    ]);
  },
);

t.test("a WAN without an address (yet): no reply rules, every interface still leads into ipmasq", async (t) => {
  t.same(lines(inputs({ wan: undefined, publicAddr: 0 })), EVERY_INTERFACE, "no WAN interface");
  t.same(lines(inputs({ publicAddr: 0 })), EVERY_INTERFACE, "the WAN interface known, its address not");
});

t.test(
  "port forwards and UPnP mappings outside the NAT ranges are steered in from every interface (hairpin too), once each",
  async (t) => {
    const x = inputs({
      rules: "ipmasqadm portfw -a -P tcp -L 10.0.0.1 8080 -R 192.168.0.2 80\n",
      mappedPorts: [
        { proto: 17, port: 5000 },
        { proto: 6, port: 8080 },
      ],
    });
    t.same(
      lines(x).filter((l) => l.startsWith("pref 15 ")),
      [
        "pref 15 iif eth1 ipproto tcp dport 8080 lookup 4243",
        "pref 15 iif eth0 ipproto tcp dport 8080 lookup 4244",
        "pref 15 iif eth1 ipproto udp dport 5000 lookup 4243",
        "pref 15 iif eth0 ipproto udp dport 5000 lookup 4244",
      ],
      "a mapping of the forwarded port adds no second rule",
    );
  },
);

t.test(
  "a REDIRECT (the seed's transparent proxy): the proxy's replies, from the gateway itself, go back through the base device",
  async (t) => {
    const tcp = inputs({ rules: "ipchains -A input -p tcp -s 192.168.0.0/24 -d 0/0 80 -j REDIRECT 3128\n" });
    t.same(
      lines(tcp).filter((l) => l.startsWith("pref 16 ")),
      ["pref 16 iif lo ipproto tcp sport 3128 lookup 4242"],
    );
    const all = inputs({ rules: "ipchains -A input -s 192.168.0.0/24 -j REDIRECT 8053\n" });
    t.same(
      lines(all).filter((l) => l.startsWith("pref 16 ")),
      ["pref 16 iif lo ipproto tcp sport 8053 lookup 4242", "pref 16 iif lo ipproto udp sport 8053 lookup 4242"],
      "no protocol named: TCP and UDP",
    );
    const port = inputs({ rules: "ipchains -A input -p udp -s 192.168.0.0/24 -d 0/0 53 -j REDIRECT\n" });
    t.same(
      lines(port).filter((l) => l.startsWith("pref 16 ")),
      ["pref 16 iif lo ipproto udp sport 53 lookup 4242"],
      "no port given: the destination port",
    );
  },
);
