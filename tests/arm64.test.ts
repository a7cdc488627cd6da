// The single artifact on arm64 (under qemu-user emulation): it starts, loads its embedded arm64
// koffi binary, and passes the core self-test (golden vectors, WASM vs TS differential).
import t from "tap";
import { execFileSync } from "node:child_process";
import { join } from "node:path";

t.test("dist/ipmasq.js selftest on x64", async (t) => {
  const out = execFileSync(process.execPath, [join(__dirname, "..", "dist", "ipmasq.js"), "selftest", "--count", "5000"], { encoding: "utf8" });
  t.match(out, /all passed/);
});

t.test("dist/ipmasq.js selftest on arm64 under emulation", async (t) => {
  const out = execFileSync("bash", [join(__dirname, "..", "bench", "arm64-check.sh")], { encoding: "utf8", env: { ...process.env, COUNT: "5000" }, timeout: 300_000 });
  t.match(out, /node under emulation: arm64/, "an arm64 Node runs the artifact");
  t.match(out, /ipmasq selftest on linux-arm64/);
  t.match(out, /ok - koffi loads and calls libc/, "the embedded arm64 koffi binary loads");
  t.match(out, /all passed/, "golden vectors and the differential pass on arm64");
});
