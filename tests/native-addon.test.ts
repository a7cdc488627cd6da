// Native code runs as root, so it is loaded only from a place that is ours (host/tun/
// embedded-addon.ts). Each case plants a library that creates a marker file when it is loaded
// (its constructor runs at dlopen) where another user could have put it, and runs the artifact:
// the planted library is refused and never loaded. The artifact's selftest is the probe: its last
// check loads koffi.
import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  copyFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE } from "../harness/ipmasq-cli";

const NOBODY = 65534;
const root = join(__dirname, "..");
const version = JSON.parse(readFileSync(join(root, "node_modules/koffi/package.json"), "utf8")).version;
const ARCH_DIR: Record<string, string> = { x64: "linux_x64", arm64: "linux_arm64", arm: "linux_armhf" };
const koffiBytes = readFileSync(
  join(
    root,
    `node_modules/@koromix/koffi-linux-${process.arch === "arm" ? "arm" : process.arch}`,
    ARCH_DIR[process.arch],
    "koffi.node",
  ),
);
// the name the artifact looks for: koffi-<version>-<arch>-<sha256, 16 hex digits>.node
const addonName = `koffi-${version}-${process.arch}-${createHash("sha256").update(koffiBytes).digest("hex").slice(0, 16)}.node`;

const scratch = mkdtempSync(join(tmpdir(), "ipmasq-addon-"));
chmodSync(scratch, 0o755);
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const marker = join(scratch, "planted-library-was-loaded");
const planted = join(scratch, "planted.so");
writeFileSync(
  join(scratch, "planted.c"),
  `#include <fcntl.h>\n__attribute__((constructor)) static void loaded(void) { close(open("${marker}", O_CREAT | O_WRONLY, 0644)); }\n`,
);
execFileSync("cc", ["-shared", "-fPIC", "-o", planted, join(scratch, "planted.c")]);

// Runs `ipmasq selftest` with this state directory (the native code goes to STATE/lib).
function selftest(state: string, env: NodeJS.ProcessEnv = {}): { out: string; code: number | null } {
  const r = spawnSync(process.execPath, [BUNDLE, "selftest", "--count", "10", "--state-dir", state], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { out: r.stdout + r.stderr, code: r.status };
}

t.test("the marker works: loading the planted library creates it", async (t) => {
  spawnSync(process.execPath, ["-e", `try { process.dlopen({ exports: {} }, ${JSON.stringify(planted)}); } catch {}`]);
  t.ok(existsSync(marker), "dlopen of the planted library ran its constructor");
  rmSync(marker);
});

// [case, how to prepare STATE before the run, what the refusal says]
const CASES: Array<[string, (state: string) => void, RegExp]> = [
  [
    "a state directory made by another user",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true });
      copyFileSync(planted, join(s, "lib", addonName));
      for (const p of [s, join(s, "lib"), join(s, "lib", addonName)]) chownSync(p, NOBODY, NOBODY);
    },
    /refusing to use .*\/lib: it is owned by uid 65534/,
  ],
  [
    "a state directory of another user's holding a lib directory of ours",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true, mode: 0o700 });
      chownSync(s, NOBODY, NOBODY);
    },
    /refusing to use .*\/lib: its parent .* is owned by uid 65534/,
  ],
  [
    "our state directory with a lib directory of another user's",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true, mode: 0o777 });
      chmodSync(join(s, "lib"), 0o777);
      copyFileSync(planted, join(s, "lib", addonName));
      chownSync(join(s, "lib"), NOBODY, NOBODY);
    },
    /refusing to use .*\/lib: it is owned by uid 65534/,
  ],
  [
    "lib is a symbolic link to another user's directory",
    (s) => {
      const theirs = join(scratch, `theirs-${Math.random().toString(36).slice(2)}`);
      mkdirSync(theirs);
      copyFileSync(planted, join(theirs, addonName));
      chownSync(theirs, NOBODY, NOBODY);
      mkdirSync(s, { recursive: true, mode: 0o700 });
      symlinkSync(theirs, join(s, "lib"));
    },
    /refusing to use .*\/lib: it is a symbolic link/,
  ],
  [
    "a group-writable lib directory",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true });
      chmodSync(join(s, "lib"), 0o770);
      copyFileSync(planted, join(s, "lib", addonName));
    },
    /refusing to use .*\/lib: it is writable by its group/,
  ],
  [
    "a planted file of another user's in our directory",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true, mode: 0o700 });
      copyFileSync(planted, join(s, "lib", addonName));
      chownSync(join(s, "lib", addonName), NOBODY, NOBODY);
    },
    /refusing to read .*: it is owned by uid 65534/,
  ],
  [
    "a file of the right name with other bytes",
    (s) => {
      mkdirSync(join(s, "lib"), { recursive: true, mode: 0o700 });
      copyFileSync(planted, join(s, "lib", addonName));
      chmodSync(join(s, "lib", addonName), 0o500);
    },
    /refusing to load .*: its SHA-256 is [0-9a-f]{16}…, not that of the koffi/,
  ],
];

for (const [name, prepare, refusal] of CASES) {
  t.test(name, async (t) => {
    const state = join(scratch, name.replace(/\W+/g, "-"));
    prepare(state);
    const r = selftest(state);
    t.match(r.out, refusal, "refused, saying why");
    t.equal(r.code, 1, "the selftest fails");
    t.notOk(existsSync(marker), "the planted library was never loaded");
  });
}

t.test("the old place, <tmpdir>/ipmasq-<uid>, is no longer looked at", async (t) => {
  const tmp = join(scratch, "tmp");
  mkdirSync(join(tmp, "ipmasq-0"), { recursive: true });
  copyFileSync(planted, join(tmp, "ipmasq-0", addonName));
  chownSync(join(tmp, "ipmasq-0"), NOBODY, NOBODY);
  const state = join(scratch, "fresh");
  const r = selftest(state, { TMPDIR: tmp });
  t.equal(r.code, 0, "the selftest passes");
  t.match(r.out, /ok - koffi loads and calls libc/, "koffi loaded");
  t.notOk(existsSync(marker), "the planted library was never loaded");
  t.same(readdirSync(join(state, "lib")), [addonName], "koffi was written to the state directory");
  t.equal(statSync(join(state, "lib")).mode & 0o777, 0o700, "whose lib directory is ours alone (0700)");
  t.equal(statSync(join(state, "lib", addonName)).mode & 0o777, 0o500, "and the library read-only");
  const again = selftest(state);
  t.equal(again.code, 0, "a second run checks and reuses the file");
});
