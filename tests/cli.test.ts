// The command line as an admin meets it: --version, help per command (made from the same tables
// the parser uses, and checked against them), usage errors exit 2 with one line and the usage,
// runtime errors 1, `status` with nothing running 3; errors are sentences with control bytes
// escaped; `check` reads stdin, shows a caret, speaks JSON, and reads the 2.2-era script dialect.
import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMANDS, OPTIONS } from "../host/cli/cli";
import { BUNDLE } from "../harness/ipmasq-cli";

const scratch = mkdtempSync(join(tmpdir(), "ipmasq-cli-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

function ipmasq(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const file = (name: string, text: string): string => {
  const f = join(scratch, name);
  writeFileSync(f, text);
  return f;
};

t.test("conventions", async (t) => {
  for (const flag of ["--version", "-V"]) {
    const r = ipmasq([flag]);
    t.match([r.code, r.out], [0, /^ipmasq \d+\.\d+\.\d+ \(.*node v\d+.*\)\n$/], `${flag}: one line, exit 0`);
  }
  const none = ipmasq([]);
  t.equal(none.code, 2, "no command: usage, exit 2");
  const unknown = ipmasq(["frobnicate"]);
  t.match([unknown.code, unknown.err], [2, /^ipmasq: unknown command "frobnicate"\n/], "an unknown command");
  const bad = ipmasq(["check", "--workers", "99", "x"]);
  t.same(
    [bad.code, bad.err.split("\n").filter(Boolean)],
    [2, ["ipmasq check: unknown option --workers", "usage: ipmasq check [FILE|-] [--json]   (ipmasq check --help)"]],
    "a command rejects an option it does not take: what is wrong, and its usage",
  );
  const extra = ipmasq(["check", "a", "b"]);
  t.match([extra.code, extra.err], [2, /^ipmasq check: unexpected argument "b"\n/], "and extra arguments");
  const value = ipmasq(["run", "--core", "gpu"]);
  t.match(
    [value.code, value.err],
    [2, /^ipmasq run: --core must be wasm or ts, got "gpu"\nusage: ipmasq run/],
    "a bad value: exit 2 with the usage",
  );
  const state = join(scratch, "state");
  const status = ipmasq(["status", "--state-dir", state]);
  t.match(
    [status.code, status.err],
    [3, /no gateway is running in this network namespace/],
    "status with nothing running: exit 3 (LSB)",
  );
  const statusJson = ipmasq(["status", "--json", "--state-dir", state]);
  t.match(
    [statusJson.code, JSON.parse(statusJson.out)],
    [3, { running: false, error: /no gateway is running/ }],
    "status --json with nothing running: exit 3, and JSON on stdout",
  );
  const conns = ipmasq(["conns", "--state-dir", state]);
  t.equal(conns.code, 1, "other commands with nothing running: exit 1");
  const live = ipmasq(["ipchains", "--help"]);
  t.match(
    [live.code, live.out],
    [0, /^usage: ipmasq ipchains ARGS/],
    "ipmasq ipchains --help needs no running gateway",
  );
});

t.test("each command's help lists exactly what its parser takes", async (t) => {
  for (const [name, spec] of Object.entries(COMMANDS)) {
    const r = ipmasq([name, "--help"]);
    t.equal(r.code, 0, `${name} --help exits 0`);
    const shown = [...r.out.matchAll(/^\s+(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]).sort();
    t.same(
      shown,
      [...spec.options.filter((o) => !OPTIONS[o].hidden), "help"].sort(),
      `${name}: the help names every option it takes, and no other`,
    );
    for (const o of shown.filter((x) => x !== "help" && OPTIONS[x].type === "string")) {
      const e = ipmasq([name, `--${o}`]);
      t.notMatch(e.err, /unknown option/, `${name} --${o} is an option the parser knows`);
    }
  }
  const all = ipmasq(["--help"]);
  for (const name of Object.keys(COMMANDS))
    t.match(all.out, new RegExp(`^  ${name} `, "m"), `ipmasq --help lists ${name}`);
});

t.test("check", async (t) => {
  const stdin = ipmasq(["check", "-"], "ipchains -P forward DENY\nipchains -A forward -s 192.168.0.0/24 -j MASQ\n");
  t.match(
    [stdin.code, stdin.out],
    [0, /^<stdin>: ok \(1 rule, 0 port forwards, forward policy DENY\)/],
    "- reads standard input",
  );
  const missing = ipmasq(["check", join(scratch, "nope.conf")]);
  t.match(
    [missing.code, missing.err],
    [1, /cannot read .*nope\.conf: no such file\n$/],
    "a missing file: a sentence, exit 1",
  );
  t.match(ipmasq(["check", scratch]).err, /cannot read .*: is a directory\n$/, "a directory: a sentence");
  const junk = ipmasq(["check", file("junk.conf", "ipchains -A forward -j \x1b[31mMASQ\x07\n")]);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach the terminal
  t.notMatch(junk.err, /[\x00-\x08\x0b-\x1f\x7f]/, "control bytes in a bad line never reach the terminal");
  t.match(junk.err, /\\x1b\[31mMASQ\\x07/, "they are shown escaped");
  const caret = ipmasq(["check", file("caret.conf", "ipchains -P forward DENY\nipchains -A forwrd -j MASQ\n")]);
  t.same(
    caret.err.split("\n").slice(0, 3),
    [
      `${join(scratch, "caret.conf")}:2:13: no chain named "forwrd" (built-in: input, forward, output; make others with -N)`,
      "  ipchains -A forwrd -j MASQ",
      `  ${" ".repeat(12)}^`,
    ],
    "file:line:column, the line, a caret under the column",
  );
  const big = ipmasq([
    "check",
    file("big.conf", Array.from({ length: 220_000 }, () => "ipchains -A forward -s 192.168.0.0/24 -j MASQ").join("\n")),
  ]);
  t.match(
    [big.code, big.err],
    [1, /big\.conf:1022:10: more than 1024 rules/],
    "a file of 220 000 rules: the limit, with file:line:column",
  );
  const json = JSON.parse(ipmasq(["check", "--json", "-"], "ipchains -A forward -j MASQ\n").out);
  t.match(
    json,
    {
      file: "<stdin>",
      ok: true,
      rules: 1,
      warnings: [/no MASQ rule names its network with -s: `run` cannot tell the LAN interface without --lan IF/],
    },
    "--json, and the warning a MASQ rule without -s deserves",
  );
  const jsonErr = ipmasq(["check", "--json", "-"], "ipchains -A forward -j MASK\n");
  t.match(
    [jsonErr.code, JSON.parse(jsonErr.out)],
    [1, { ok: false, error: { line: 1, column: 24, reason: /unknown target "MASK"/ } }],
    "--json error: line, column, reason",
  );
});

t.test("check warns about what is legal but probably wrong (exit 0)", async (t) => {
  const r = ipmasq(
    ["check", "--json", "-"],
    [
      "ipchains -P forward DENY",
      "ipchains -A forward -s 10.99.3.0/24 -i eth9 -j DENY",
      "ipchains -A forward -s 10.99.3.0/24 -p tcp -d 0/0 25 -j DENY",
      "ipchains -A forward -s 10.99.0.0/16 -j MASQ",
      "ipchains -A forward -s 10.99.5.0/24 -j ACCEPT",
      "ipmasqadm portfw -a -P tcp -L 10.0.0.1 80 -R 172.16.0.9 80",
    ].join("\n"),
  );
  const out = JSON.parse(r.out);
  t.equal(r.code, 0, "still ok");
  t.match(
    out.warnings,
    [
      /chain forward, rule 4 \("-s 10\.99\.5\.0\/24 -j ACCEPT"\) can never match: rule 3 \("-s 10\.99\.0\.0\/16 -j MASQ"\) decides every packet it would/,
      /the port forward to 172\.16\.0\.9:80 leads outside every masqueraded network \(10\.99\.0\.0\/16\)/,
      /no interface here has an address in 10\.99\.0\.0\/16/,
    ],
    "a shadowed rule, a port forward to no LAN, a network no interface here holds",
  );
  t.equal(
    out.warnings.length,
    3,
    "and nothing else: a rule behind one limited to an interface (-i) is not taken for shadowed",
  );
});

t.test("the 2.2-era script dialect: shell variables, refused shell constructs", async (t) => {
  const howto = file(
    "rc.firewall",
    [
      "#!/bin/sh",
      "# as the IP-Masquerade HOWTO's rc.firewall",
      "IPCHAINS=/sbin/ipchains",
      'EXTIF="eth0"',
      "INTNET=192.168.0.0/24",
      "export PORTS='-p tcp'",
      "",
      "$IPCHAINS -P forward DENY",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell variables, as the HOWTO's script wrote them
      "${IPCHAINS} -A input -i $EXTIF -s $INTNET -j DENY",
      '$IPCHAINS -A forward -s "$INTNET" -j MASQ',
      "$IPCHAINS -A forward $PORTS -d 0/0 25 -j DENY",
      "",
    ].join("\n"),
  );
  const ok = ipmasq(["check", howto]);
  t.match(
    [ok.code, ok.out],
    [0, /ok \(3 rules, 0 port forwards, forward policy DENY\)/],
    "variables assigned at the top are expanded where used",
  );
  const unset = ipmasq(["check", "-"], "$IPCHAINS -A forward -s $LAN -j MASQ\n");
  t.match(
    [unset.code, unset.err],
    [1, /^<stdin>:1:1: \$IPCHAINS is not set above this line/],
    "an unset variable is refused where it is used",
  );
  for (const construct of [
    "if [ -x /sbin/ipchains ]; then",
    "for i in 1 2; do",
    "while true; do",
    "case $1 in",
    "start() {",
  ]) {
    const r = ipmasq(["check", "-"], `IPCHAINS=/sbin/ipchains\n${construct}\n`);
    t.match(
      [r.code, r.err],
      [1, /^<stdin>:2:1: the shell construct ".+" is not supported/],
      `"${construct}" is refused with file:line and the reason, never guessed`,
    );
  }
});
