// The manual pages render without a warning, and say what the parsers take — no more, no less:
// ipmasq(8) against the command line's tables, ipmasq.conf(5) against the rule parser's options.
// `ipmasq help conf` shows the page the artifact carries; install's bash completion offers
// every command's options.
import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPTIONS, COMMANDS } from "../host/cli/cli-spec";
import { BUNDLE } from "../harness/ipmasq-cli";

const ROOT = join(__dirname, "..");
const page = (name: string): string => readFileSync(join(ROOT, "man", name), "utf8");
const flags = (roff: string): string[] =>
  [...new Set([...roff.matchAll(/\\-\\-([a-z](?:[a-z0-9]|\\-)*)/g)].map((m) => m[1].replace(/\\-/g, "-")))].sort();

for (const name of ["ipmasq.8", "ipmasq.conf.5"]) {
  t.test(`${name} renders without a warning`, async (t) => {
    const r = spawnSync("groff", ["-man", "-Tutf8", "-ww", "-z", join(ROOT, "man", name)], {
      encoding: "utf8",
      env: { ...process.env, LC_ALL: "C.UTF-8" },
    });
    t.same([r.status, r.stderr], [0, ""], "groff -ww: no warning");
  });
}

t.test("ipmasq(8) names every option and command, and nothing else", async (t) => {
  const roff = page("ipmasq.8");
  t.same(
    flags(roff).filter((f) => f !== "version"),
    Object.keys(OPTIONS).sort(),
    "the long options in the page are exactly the parser's (and --version), the internal --handover included",
  );
  for (const c of Object.keys(COMMANDS)) t.match(roff, new RegExp(`^\\.B ${c}$`, "m"), `command ${c} is described`);
});

t.test("ipmasq.conf(5) names every option the rule parser takes", async (t) => {
  const roff = page("ipmasq.conf.5").replace(/\\-/g, "-");
  const parser = readFileSync(join(ROOT, "host", "policy", "ipchains.ts"), "utf8");
  const parsed = [...new Set([...parser.matchAll(/case "(-[-a-zA-Z]+)"/g)].map((m) => m[1]))];
  t.ok(parsed.length > 40, `${parsed.length} options read from the parser`);
  for (const o of parsed)
    t.match(roff, new RegExp(`(^|[\\s"(|])${o.replace(/-/g, "\\-")}([\\s")|]|$)`, "m"), `${o} is in the page`);
  const rc = spawnSync(process.execPath, [BUNDLE, "help", "conf"], {
    encoding: "utf8",
    env: { ...process.env, MANPAGER: "cat", PAGER: "cat" },
  });
  t.match(
    [rc.status, rc.stdout],
    [0, /GRAMMAR[\s\S]*ipchains-cmd/],
    "ipmasq help conf shows the page the artifact carries",
  );
});

t.test("bash completion offers each command's options", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "ipmasq-compl-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  execFileSync(process.execPath, [BUNDLE, "install", "--init", "sysv", "--root", root]);
  const complete = (words: string[]): string[] =>
    execFileSync(
      "bash",
      [
        "-c",
        `source ${join(root, "usr/local/share/bash-completion/completions/ipmasq")}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _ipmasq; echo "\${COMPREPLY[@]}"`,
      ],
      { encoding: "utf8" },
    )
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  t.same(
    complete(["ipmasq", ""])
      .filter((w) => !w.startsWith("-") && w !== "help")
      .sort(),
    Object.keys(COMMANDS).sort(),
    "the commands",
  );
  for (const [name, c] of Object.entries(COMMANDS)) {
    t.same(
      complete(["ipmasq", name, "--"]).sort(),
      [...c.options.filter((o) => !OPTIONS[o].hidden), "help"].map((o) => `--${o}`).sort(),
      `${name}: its options`,
    );
  }
  t.same(complete(["ipmasq", "run", "--spoof-check", ""]), ["off", "loose", "strict"], "an option's values");
});
