// The C reference forwarder for the benchmarks that compare with it (cost, latency, vs-c): built
// with the system compiler into a scratch directory, and started on ipmasq's own TUN setup in
// the gateway namespace (run.ts) with its "ready" awaited.
import { execFileSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { type Topology, until } from "../../harness/topology";

export function buildReference(dir: string): string {
  const binary = join(dir, "forwarder");
  execFileSync("gcc", ["-O2", "-pthread", "-o", binary, join(__dirname, "forwarder.c")]);
  return binary;
}

// `output()`: what it printed so far (its counter lines, asked for with SIGUSR1).
export async function startReference(
  t: Topology,
  binary: string,
  queues = 2,
): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = t.spawn(t.gw, [
    process.execPath,
    "--import",
    "tsx",
    join(__dirname, "run.ts"),
    binary,
    "10.0.0.1",
    String(queues),
  ]);
  let out = "";
  proc.stdout!.on("data", (d) => {
    out += d;
  });
  proc.stderr!.on("data", (d) => {
    process.stderr.write(d);
  });
  await until(() => out.includes("ready\n"), 30_000);
  return { proc, output: () => out };
}
