// The single artifact on ARM boards' architectures (under qemu-user emulation): it starts, loads
// its embedded koffi binary for the architecture, and passes the core self-test (golden vectors,
// WASM vs TS differential). And the same self-test on this machine.
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

t.test("dist/ipmasq.js selftest here", async (t) => {
  const state = mkdtempSync(join(tmpdir(), "ipmasq-selftest-")); // where koffi is written
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const out = execFileSync(
    process.execPath,
    [join(__dirname, "..", "dist", "ipmasq.js"), "selftest", "--count", "5000", "--state-dir", state],
    { encoding: "utf8" },
  );
  t.match(out, /all passed/);
});

for (const [arch, nodeArch] of [
  ["arm64", "arm64"],
  ["armhf", "arm"],
]) {
  t.test(`dist/ipmasq.js selftest on ${arch} under emulation`, async (t) => {
    const out = execFileSync("bash", [join(__dirname, "..", "bench", "arm-check.sh"), arch], {
      encoding: "utf8",
      env: { ...process.env, COUNT: "3000" },
      timeout: 600_000,
    });
    t.match(out, new RegExp(`node under emulation: ${nodeArch} `), `a ${arch} Node runs the artifact`);
    t.match(out, new RegExp(`ipmasq selftest on linux-${nodeArch}`));
    t.match(out, /ok - koffi loads and calls libc/, `the embedded ${arch} koffi binary loads`);
    t.match(out, /all passed/, `golden vectors and the differential pass on ${arch}`);
  });
}
