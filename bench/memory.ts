// Memory of an idle gateway on a small board: RSS and anonymous RSS of `ipmasq run` for 1, 2 and 4
// workers and tables of 4k, 64k and 1M connections, a few seconds after "ready" (what starting
// freed has been given back). x64 natively, and arm64 under qemu-user as a figure, not a speed:
// the emulator adds its own translation buffers, so arm64 rows are an upper bound.
// Writes bench/results/memory.md.
//   npm run bench:memory [-- --no-arm]     (arm64 needs qemu-user and the cross C libraries:
//                                           bench/arm-check.sh fetches Node for arm64)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTopology, writeConfig, sleep, waitExit, type Topology } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { BUNDLE } from "../harness/ipmasq-cli";

const ROOT = join(__dirname, "..");
const ARM64_NODE = join(ROOT, "build", "arm64", "package", "bin", "node");
const SETTLE_MS = 6000;

interface Row {
  arch: string;
  workers: number;
  conns: number;
  rss: number;
  anon: number;
  file: number;
} // MB

// /proc/PID/status of the process that runs node (qemu-user runs it in its own process).
function status(pid: number): { rss: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]);
  return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024, file: kb("RssFile") / 1024 };
}

async function measure(t: Topology, arch: string, workers: number, conns: number): Promise<Row> {
  const node = arch === "x64" ? [process.execPath] : ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", ARM64_NODE];
  const state = join(t.dir, "state");
  const p = t.spawn(t.gw, [
    ...node,
    BUNDLE,
    "run",
    "--state-dir",
    state,
    "--config",
    writeConfig(t),
    "--workers",
    String(workers),
    "--max-conns",
    String(conns),
  ]);
  let out = "";
  p.stdout!.on("data", (d) => {
    out += d;
  });
  p.stderr!.on("data", (d) => {
    out += d;
  });
  try {
    for (const end = Date.now() + 120_000; !out.includes("ready\n"); await sleep(100)) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`the gateway did not start:\n${out}`);
    }
    await sleep(SETTLE_MS);
    const row = { arch, workers, conns, ...status(p.pid!) };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    return row;
  } finally {
    p.kill("SIGTERM");
    await waitExit(p, 60_000);
  }
}

async function main(): Promise<void> {
  requirePeers([["ip", "iproute2"]]);
  const arm = !process.argv.includes("--no-arm");
  if (arm) {
    requirePeers([["qemu-aarch64", "qemu-user"]]);
    if (!existsSync(ARM64_NODE))
      execFileSync("bash", [join(ROOT, "bench", "arm-check.sh"), "arm64"], {
        stdio: "ignore",
        env: { ...process.env, COUNT: "10" },
      });
  }
  const t = makeTopology("mem");
  const rows: Row[] = [];
  try {
    for (const arch of arm ? ["x64", "arm64"] : ["x64"]) {
      for (const workers of [1, 2, 4]) {
        for (const conns of [4096, 65536, 1048576]) rows.push(await measure(t, arch, workers, conns));
      }
    }
  } finally {
    t.destroy();
  }
  const md = `${[
    `memory of an idle gateway, ${SETTLE_MS / 1000} s after ready (RSS = anonymous + file-backed; file-backed is mostly the node binary's code, shared and reclaimable)`,
    "",
    "| arch | workers | --max-conns | RSS MB | anonymous MB | file-backed MB |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.arch === "x64" ? "x64" : "arm64 (qemu-user)"} | ${r.workers} | ${r.conns} | ${r.rss.toFixed(1)} | ${r.anon.toFixed(1)} | ${r.file.toFixed(1)} |`,
    ),
  ].join("\n")}\n`;
  process.stdout.write(`\n${md}`);
  const out = join(__dirname, "results", "memory.md");
  writeFileSync(out, md);
  wrote([out]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
