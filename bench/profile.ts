// Where the CPU goes while ipmasq forwards: one iperf3 case through the gateway (WASM core, one
// worker) with `perf record -e cpu-clock` sampling the whole machine. Prints the share of each
// process, how much of the gateway's time is its own code and how much the kernel's work done on
// its behalf (read, write, the second trip through the stack), and the kernel's hottest functions,
// grouped. Writes bench/results/profile-<case>.md. Needs perf (Debian's linux-perf).
//   npm run bench:profile -- tcp | udp64 [--pps 100000] [--core ts] [--workers 2]
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { makeTopology, writeConfig, startGateway, waitExit } from "../harness/topology";
import { arg } from "./args";

const CASE = process.argv.find((a) => a === "tcp" || a === "udp64") ?? "tcp";
const PPS = Number(arg("--pps") ?? "100000");
const SAMPLE_SECONDS = 3;

// Kernel functions by what they do for a forwarded packet. Without a hardware PMU (a VM),
// cpu-clock samples cannot land where interrupts are off: the softirq's network processing shows up
// where interrupts come back on (handle_softirqs, *_unlock_irq*), hence a group of its own.
const GROUPS: Array<[string, RegExp]> = [
  [
    "copies between user and kernel (read, write)",
    /^_copy_(to|from)_iter|^copy_user|^rep_movs|^__check_object_size|^__virt_addr_valid|^check_heap_object/,
  ],
  [
    "softirq network processing (seen where interrupts come back on)",
    /^handle_softirqs|^_raw_spin_unlock_irq|^__local_bh_enable|^do_softirq|^net_rx_action/,
  ],
  [
    "scheduling and wake-ups",
    /^finish_task_switch|^__schedule|^schedule|^try_to_wake_up|^do_sys_poll|^tun_chr_poll|^__pollwait|^poll_/,
  ],
  [
    "system call entry and file lookup",
    /^do_syscall_64|^entry_SYSCALL|^fdget|^fput|^rw_verify_area|^ksys_(read|write)|^vfs_(read|write)|^security_file/,
  ],
  ["routing and policy rules", /^fib_|^ip_route|^__fib|^l3mdev/],
  ["TUN driver", /^tun_/],
  [
    "socket buffers",
    /alloc_skb|^kfree|^skb_|^__slab|^slab_|^kmem_|consume_skb|^__alloc_frozen_pages|^get_page_from_freelist|^free_/,
  ],
  ["flow hashing", /flow_dissect|siphash|skb_get_hash/],
];

function perfReport(file: string, args: string[]): string {
  return execFileSync("perf", ["report", "-i", file, "--no-children", "--stdio", "-g", "none", ...args], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    stderr: "ignore",
  } as never) as unknown as string;
}
const rows = (out: string): Array<[number, string]> =>
  out
    .split("\n")
    .filter((l) => /^\s+[\d.]+%/.test(l))
    .map((l) => {
      const m = /^\s+([\d.]+)%\s+(.*)$/.exec(l)!;
      return [Number(m[1]), m[2].trim().replace(/\s+/g, " ")];
    });

async function main(): Promise<void> {
  const t = makeTopology("prof");
  const dataFile = join(t.dir, "perf.data");
  let g: Awaited<ReturnType<typeof startGateway>> | undefined;
  let load = "";
  try {
    t.spawn(t.wan, ["iperf3", "-s"]);
    await new Promise((r) => setTimeout(r, 800));
    g = await startGateway(
      t,
      ["--config", writeConfig(t), "--core", arg("--core") ?? "wasm", "--workers", arg("--workers") ?? "1"],
      join(t.dir, "state"),
    );
    t.exec(t.lan, ["ping", "-c", "2", "-i", "0.2", "10.0.0.2"]);
    const perf = t.spawn(t.gw, [
      "sh",
      "-c",
      `sleep 1; exec perf record -q -e cpu-clock -a -o ${dataFile} -- sleep ${SAMPLE_SECONDS}`,
    ]);
    const iperf =
      CASE === "tcp"
        ? ["iperf3", "-c", "10.0.0.2", "-t", String(SAMPLE_SECONDS + 2), "-J"]
        : [
            "iperf3",
            "-c",
            "10.0.0.2",
            "-u",
            "-w",
            "4M",
            "-l",
            "36",
            "-b",
            String(PPS * 36 * 8),
            "-t",
            String(SAMPLE_SECONDS + 2),
            "-J",
          ];
    const j = JSON.parse(t.exec(t.lan, iperf, { timeout: 60_000 }));
    load =
      CASE === "tcp"
        ? `TCP, one stream LAN -> WAN: ${(j.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`
        : `UDP 64 B LAN -> WAN offered at ${PPS} packets/s: ${j.end.sum.lost_packets} of ${j.end.sum.packets} lost`;
    await waitExit(perf, 30_000);
  } finally {
    if (g) {
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    }
  }
  try {
    const byProcess = rows(perfReport(dataFile, ["--sort", "comm,dso"]));
    const gateway = byProcess.filter(([, k]) => k.startsWith("node "));
    const gatewayKernel = gateway.filter(([, k]) => k.includes("[kernel")).reduce((a, [p]) => a + p, 0);
    const gatewayUser = gateway.reduce((a, [p]) => a + p, 0) - gatewayKernel;
    // sorted by comm too: with symbols alone perf merges entries across processes
    const symbols = rows(perfReport(dataFile, ["--comm", "node", "--sort", "comm,sym"]));
    // (perf leaves the comm column out when the filter leaves one)
    const kernelSyms = symbols
      .map(([p, s]) => [p, s.replace(/^node /, "")] as [number, string])
      .filter(([, s]) => s.startsWith("[k] "))
      .map(([p, s]) => [p, s.slice(4)] as [number, string]);
    const grouped = GROUPS.map(
      ([name, re]) => [name, kernelSyms.filter(([, s]) => re.test(s)).reduce((a, [p]) => a + p, 0)] as [string, number],
    );
    const pct = (x: number): string => `${x.toFixed(1)} %`;
    const md = `${[
      `# Profile: ${load}`,
      "",
      `perf cpu-clock samples over ${SAMPLE_SECONDS} s of the whole ${process.arch} machine (100 % = all its CPUs); ipmasq --core ${arg("--core") ?? "wasm"} --workers ${arg("--workers") ?? "1"}.`,
      "",
      "| process, code | share |",
      "|---|---:|",
      ...byProcess.filter(([p]) => p >= 0.5).map(([p, k]) => `| ${k} | ${pct(p)} |`),
      "",
      `The gateway (node): ${pct(gatewayUser)} in its own code (JavaScript, WASM, koffi, libc), ${pct(gatewayKernel)} in the kernel on its behalf.`,
      "",
      "| the gateway's kernel time, by what it does | share |",
      "|---|---:|",
      ...grouped.map(([n, p]) => `| ${n} | ${pct(p)} |`),
      `| the rest of the network stack (IP, forwarding, veth, TCP/UDP of the far end) | ${pct(gatewayKernel - grouped.reduce((a, [, p]) => a + p, 0))} |`,
      "",
      "| hottest kernel functions in the gateway's threads | share |",
      "|---|---:|",
      ...kernelSyms.slice(0, 15).map(([p, s]) => `| ${s} | ${pct(p)} |`),
    ].join("\n")}\n`;
    console.log(md);
    const RESULTS = join(__dirname, "..", "bench", "results");
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, `profile-${CASE}.md`), md);
  } finally {
    t.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
