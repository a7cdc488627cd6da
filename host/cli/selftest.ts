// `ipmasq selftest`: the core tests, run by the artifact itself on whatever machine it is on
// (an ARM board, or arm64 under emulation): the scapy golden vectors and a differential run of
// the WASM core against the TS core, plus loading koffi's native binary for this architecture.
import { runGolden, GOLDEN_CASES } from "../../harness/golden";
import { runDifferential } from "../../harness/differential";

export function selftest(count: number): number {
  let failures = 0;
  const say = (ok: boolean, what: string): void => {
    if (!ok) failures++;
    process.stdout.write(`${ok ? "ok" : "not ok"} - ${what}\n`);
  };
  process.stdout.write(`ipmasq selftest on ${process.platform}-${process.arch}, node ${process.version}\n`);
  for (const kind of ["wasm", "ts"] as const) {
    const bad = runGolden(kind).filter((r) => r.problem);
    for (const r of bad) process.stdout.write(`#   ${kind}: ${r.name}: ${r.problem}\n`);
    say(bad.length === 0, `${kind} core: ${GOLDEN_CASES} golden vectors`);
  }
  const d = runDifferential(count, 0xa5a5);
  say(
    d.mismatches.length === 0 && d.badChecksums.length === 0,
    `differential: ${d.packets} packets, WASM and TS identical, checksums verified (${JSON.stringify(d.verdicts)})`,
  );
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const c = (require("../tun/libc") as typeof import("../tun/libc")).libc();
    say(c.close(-1) === -1 && c.errno() === 9, "koffi loads and calls libc (close(-1) fails with EBADF)");
  } catch (e) {
    say(false, `koffi: ${(e as Error).message}`);
  }
  process.stdout.write(`${failures === 0 ? "all passed" : `${failures} failed`}\n`);
  return failures === 0 ? 0 : 1;
}
