// The ipchains rule language: parsing, every command, evaluation order (first match, user chains,
// RETURN, policies), and precise errors.
import t from "tap";
import { parseConfig, applyLine } from "../host/config/config-file";
import { evaluate, type PacketKey, emptyPolicy, type Policy } from "../host/policy/rules";
import type { ConfigError } from "../host/policy/ipchains";
import { policyLines } from "../host/policy/save";
import { lintPolicy } from "../host/policy/lint";
import { parseAddr } from "../host/net/addr";
import { parseAddr6, formatAddr6, parsePrefix6, inPrefix6 } from "../host/net/addr6";

type KeySpec = Partial<Omit<PacketKey, "src" | "dst">> & { src: string; dst: string };
const key = (o: KeySpec): PacketKey => ({
  proto: 6,
  sport: 40000,
  dport: 80,
  syn: true,
  fragment: false,
  icmpType: -1,
  iface: "eth0",
  ...o,
  src: parseAddr(o.src),
  dst: parseAddr(o.dst),
});
const run = (p: Policy, line: string): void => {
  applyLine(p, "live", 1, line);
};
const errorOf = (text: string): string => {
  try {
    parseConfig("f.conf", text);
    return "";
  } catch (e) {
    return (e as ConfigError).message;
  }
};

t.test("the seed's two lines", async (t) => {
  const { policy } = parseConfig(
    "rc.ipmasq",
    "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n",
  );
  t.equal(evaluate(policy, "forward", key({ src: "192.168.0.2", dst: "10.0.0.2" })).verdict, "MASQ");
  t.equal(evaluate(policy, "forward", key({ src: "10.0.0.9", dst: "192.168.0.2" })).verdict, "DENY");
  t.equal(evaluate(policy, "input", key({ src: "10.0.0.9", dst: "192.168.0.2" })).verdict, "ACCEPT");
});

t.test("matching: ports, protocols, negation, interfaces, -y, -f, ICMP types", async (t) => {
  const p = emptyPolicy();
  run(p, "ipchains -A forward -p tcp -s 0/0 -d 0/0 ! 1024:65535 ! -y -j REJECT");
  run(p, "ipchains -A forward -p icmp -s 0/0 echo-request -j DENY");
  run(p, "ipchains -A forward -i ppp+ -j ACCEPT");
  run(p, "ipchains -A forward -p ! udp -f -j DENY");
  run(p, "ipchains -P forward MASQ".replace("MASQ", "REJECT"));
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", dport: 80, syn: false })).verdict,
    "REJECT",
    "low port, not SYN",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", dport: 80, syn: true, iface: "ppp0" })).verdict,
    "ACCEPT",
    "SYN falls through to -i ppp+",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", proto: 1, icmpType: 8 })).verdict,
    "DENY",
    "echo-request by name",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", proto: 1, icmpType: 0 })).verdict,
    "REJECT",
    "echo-reply falls to the policy",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, fragment: true })).verdict,
    "REJECT",
    "! udp excludes udp fragments",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "1.1.1.1", dst: "2.2.2.2", proto: 47, fragment: true })).verdict,
    "DENY",
    "-f matches a fragment",
  );
});

t.test("user chains, RETURN, insert, replace, delete, flush, delete-chain", async (t) => {
  const p = emptyPolicy();
  run(p, "ipchains -N lan");
  run(p, "ipchains -A lan -p udp -j RETURN");
  run(p, "ipchains -A lan -j MASQ");
  run(p, "ipchains -A forward -s 192.168.0.0/24 -j lan");
  run(p, "ipchains -A forward -j DENY");
  t.equal(
    evaluate(p, "forward", key({ src: "192.168.0.2", dst: "8.8.8.8" })).verdict,
    "MASQ",
    "tcp through the user chain",
  );
  t.equal(
    evaluate(p, "forward", key({ src: "192.168.0.2", dst: "8.8.8.8", proto: 17 })).verdict,
    "DENY",
    "udp RETURNs and meets the next rule",
  );
  run(p, "ipchains -I forward 1 -d 8.8.4.4 -j REJECT");
  t.equal(
    evaluate(p, "forward", key({ src: "192.168.0.2", dst: "8.8.4.4" })).verdict,
    "REJECT",
    "-I puts the rule first",
  );
  run(p, "ipchains -R forward 1 -d 8.8.4.4 -j ACCEPT");
  t.equal(evaluate(p, "forward", key({ src: "192.168.0.2", dst: "8.8.4.4" })).verdict, "ACCEPT", "-R replaces it");
  run(p, "ipchains -D forward -d 8.8.4.4 -j ACCEPT");
  t.equal(p.chains.forward.rules.length, 2, "-D by specification");
  t.throws(() => run(p, "ipchains -X lan"), /not empty/, "-X refuses a chain with rules");
  run(p, "ipchains -D forward 1");
  run(p, "ipchains -F lan");
  run(p, "ipchains -X lan");
  t.notOk("lan" in p.chains, "-F then -X removes the chain");
  run(p, "ipchains -N x1");
  run(p, "ipchains -A x1 -j ACCEPT");
  run(p, "ipchains -N x2");
  run(p, "ipchains -A x2 -j x1");
  t.throws(() => run(p, "ipchains -A x1 -j x2"), /loop/, "a jump that makes a loop is refused");
});

t.test("timeouts, portfw, save round trip", async (t) => {
  const text = [
    "#!/bin/sh",
    'echo "1" > /proc/sys/net/ipv4/ip_forward',
    "/sbin/modprobe ip_masq_ftp",
    "ipchains -M -S 7200 10 160",
    "ipchains -P forward DENY",
    "ipchains -N web",
    "ipchains -A web -p tcp -d 0/0 443 -j RETURN",
    "ipchains -A forward -s 192.168.0.0/24 -j MASQ",
    "ipmasqadm portfw -a -P tcp -L 10.0.0.1 8080 -R 192.168.0.2 80 -p 5",
  ].join("\n");
  const c = parseConfig("rc", text);
  t.same(c.policy.masqTimeouts, { tcp: 7440, tcpFin: 240, udp: 160 }, "timeouts below the RFC minimums are raised");
  t.equal(c.warnings.length, 2, "with a warning each");
  t.same(c.policy.portfw[0], {
    pref: 5,
    proto: 6,
    publicAddr: parseAddr("10.0.0.1"),
    publicPort: 8080,
    addr: parseAddr("192.168.0.2"),
    port: 80,
  });
  // what save must write, by hand: user chains made first, every policy, the rules in order, the
  // raised timeouts, the port forward with its preference
  const EXPECTED = [
    "# written by ipmasq save",
    "ipchains -N web",
    "ipchains -P input ACCEPT",
    "ipchains -P forward DENY",
    "ipchains -P output ACCEPT",
    "ipchains -A forward -s 192.168.0.0/24 -j MASQ",
    "ipchains -A web -p tcp -d 0/0 443 -j RETURN",
    "ipchains -M -S 7440 240 160",
    "ipmasqadm portfw -a -P tcp -L 10.0.0.1 8080 -R 192.168.0.2 80 -p 5",
  ];
  t.same(policyLines(c.policy), EXPECTED, "save writes the rules as an operator would");
  const again = parseConfig("saved", EXPECTED.join("\n"));
  t.same(
    [again.policy.masqTimeouts, again.policy.portfw, Object.keys(again.policy.chains)],
    [c.policy.masqTimeouts, c.policy.portfw, Object.keys(c.policy.chains)],
    "and they load back: timeouts, port forwards, chains",
  );
  t.same(policyLines(again.policy), EXPECTED, "with the same rules");
});

t.test("errors name file, line, column and reason; nothing is half-applied", async (t) => {
  t.equal(
    errorOf("ipchains -P forward DENY\nipchains -A forwrd -j MASQ\n"),
    'f.conf:2:13: no chain named "forwrd" (built-in: input, forward, output; make others with -N)',
  );
  t.equal(errorOf("ipchains -A forward -s 300.1.1.1 -j MASQ"), "f.conf:1:24: not an IPv4 address: 300.1.1.1");
  t.equal(errorOf("ipchains -A forward -p tcp -d 0/0 99999 -j ACCEPT"), "f.conf:1:35: bad port range 99999");
  t.equal(
    errorOf("ipchains -A forward -p gre -j ACCEPT"),
    'f.conf:1:24: unknown protocol "gre" (tcp, udp, icmp, all or a number)',
  );
  t.equal(
    errorOf("ipchains -A input -j MASQ"),
    "f.conf:1:22: MASQ is only valid in the forward chain (or a chain it jumps to)",
  );
  t.equal(errorOf("ipchains -P forward MASQ"), "f.conf:1:21: a policy is ACCEPT, DENY or REJECT");
  t.equal(errorOf("ipchains -A forward -y -j ACCEPT"), "f.conf:1:21: -y needs -p tcp");
  t.equal(errorOf("ipchains -A forward --frob -j ACCEPT"), 'f.conf:1:21: unknown option "--frob"');
  t.equal(
    errorOf("route add default gw 10.0.0.2"),
    'f.conf:1:1: not an ipchains, ipmasqadm or upnp line: "route add default gw 10.0.0.2"',
  );
  t.equal(
    errorOf("ipmasqadm portfw -a -P icmp -L 10.0.0.1 1 -R 192.168.0.2 1"),
    "f.conf:1:24: portfw protocol is tcp or udp",
  );
  t.equal(errorOf("ipchains -A forward -j"), "f.conf:1:23: target expected");
});

t.test("IPv6 addresses in rules: each family matches its own, 0/0 both", async (t) => {
  const { policy } = parseConfig(
    "f.conf",
    [
      "ipchains -P forward DENY",
      "ipchains -A forward -s 192.168.0.0/24 -j MASQ",
      "ipchains -A forward -p tcp -d 2001:db8:1::10 443 -j ACCEPT",
      "ipchains -A forward -s 2001:db8:1::/64 -d ! 2001:db8:ff::/48 -j REJECT",
      "",
    ].join("\n"),
  );
  const key6 = (src: string, dst: string, dport = 443): PacketKey => ({
    ...key({ src: "0.0.0.0", dst: "0.0.0.0", dport }),
    src: 0,
    dst: 0,
    src6: parseAddr6(src),
    dst6: parseAddr6(dst),
  });
  const f = (k: PacketKey): string => evaluate(policy, "forward", k).verdict;
  t.equal(f(key6("2001:db8:ff::2", "2001:db8:1::10")), "ACCEPT", "the IPv6 server rule");
  t.equal(f(key6("2001:db8:ff::2", "2001:db8:1::10", 80)), "DENY", "not its other ports");
  t.equal(f(key6("2001:db8:1::5", "2001:db8:77::1", 80)), "REJECT", "a prefix and a negated prefix");
  t.equal(f(key6("2001:db8:1::5", "2001:db8:ff::9", 80)), "DENY", "the negation holds");
  t.equal(evaluate(policy, "forward", key6("2001:db8:1::5", "2001:db8:ff::9")).byPolicy, true, "decided by the policy");
  t.equal(f(key({ src: "192.168.0.2", dst: "10.0.0.2", dport: 443 })), "MASQ", "IPv4 meets no IPv6 rule");
  t.equal(f(key({ src: "10.9.9.9", dst: "10.0.0.2", dport: 443 })), "DENY", "an IPv6 rule never decides IPv4");
  t.equal(f(key6("2001:db8:9::1", "2001:db8:1::9", 80)), "DENY", "an IPv4 MASQ rule never decides IPv6");
  t.match(policyLines(policy).join("\n"), "-d 2001:db8:1::10 443", "saved as written");
  t.match(
    errorOf("ipchains -A forward -d 2001:db8::1::2 -j ACCEPT\n"),
    /f\.conf:1:\d+: not an IPv6 address/,
    "a bad address: file, line, column",
  );
  t.match(errorOf("ipchains -A forward -d 2001:db8::/129 -j ACCEPT\n"), /prefix length \/129/, "a bad prefix length");
});

t.test("IPv6 addresses: text forms in, RFC 5952 out", async (t) => {
  for (const [text, canonical] of [
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["fe80::", "fe80::"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ])
    t.equal(formatAddr6(parseAddr6(text)), canonical, `${text} -> ${canonical}`);
  for (const bad of ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", ":1", "1.2.3.4", "::1.2.3.256"])
    t.throws(() => parseAddr6(bad), `${bad} is refused`);
  t.ok(inPrefix6(parseAddr6("2001:db8:1:ff::1"), parsePrefix6("2001:db8:1::/48")), "in a /48");
  t.notOk(inPrefix6(parseAddr6("2001:db8:2::1"), parsePrefix6("2001:db8:1::/48")), "not in it");
  t.same(
    parsePrefix6("2001:db8:1:ffff::/50").bytes.slice(0, 8),
    [0x20, 1, 0x0d, 0xb8, 0, 1, 0xc0, 0],
    "bits past the length are cleared",
  );
});

t.test("check's lint knows IPv6: a rule of one family never shadows one of the other", async (t) => {
  const lint = (lines: string[]): string[] => lintPolicy(parseConfig("f.conf", `${lines.join("\n")}\n`).policy);
  t.same(
    lint(["ipchains -A forward -d 2001:db8::/32 -j ACCEPT", "ipchains -A forward -d 10.0.0.0/8 -j DENY"]),
    [],
    "an IPv6 rule before an IPv4 one",
  );
  t.same(
    lint(["ipchains -A forward -d 10.0.0.0/8 -j ACCEPT", "ipchains -A forward -d 2001:db8::/32 -j DENY"]),
    [],
    "an IPv4 rule before an IPv6 one",
  );
  t.match(
    lint(["ipchains -A forward -d 2001:db8::/32 -j ACCEPT", "ipchains -A forward -d 2001:db8:1::/64 -j DENY"]).join(),
    /rule 2 .* can never match: rule 1/,
    "a wider IPv6 prefix shadows a narrower one",
  );
  t.match(
    lint(["ipchains -A forward -j ACCEPT", "ipchains -A forward -d 2001:db8:1::/64 -j DENY"]).join(),
    /can never match/,
    "no address shadows both families",
  );
});
