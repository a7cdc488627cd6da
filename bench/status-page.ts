// What the open status page costs the gateway: its CPU (the scheduler's count, bench/cpu-time.ts) over
// phases of equal length with the page closed and open in headless Chromium, interleaved, while
// a paced download runs and the table holds 10 000 flows (the page walks the table for hosts and
// connections). Prints the figures and the difference in % of one core.
//   npm run bench:page [-- --seconds 20] [-- --flows 10000]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening } from "../harness/topology";
import { requirePeers, wrote } from "./peers";
import { processSeconds } from "./cpu-time";
import { arg } from "./args";

const SECONDS = Number(arg("--seconds") ?? 20);
const FLOWS = Number(arg("--flows") ?? 10_000);
const PEERS = join(__dirname, "..", "tests", "peers");

async function main(): Promise<void> {
  requirePeers([
    ["chromium", "chromium"],
    ["curl", "curl"],
  ]);
  const topo = makeTopology("page");
  let browser: Browser | undefined;
  try {
    await waitListening(topo.spawn(topo.wan, [process.execPath, join(PEERS, "http-server.js"), "8000"]));
    const g = await startGateway(topo, ["--config", writeConfig(topo), "--web", "8080"], join(topo.dir, "state"));
    // FLOWS UDP flows from one LAN socket to as many WAN ports (one mapping, many flows), paced so
    // that the slow path takes every first packet
    topo.exec(topo.lan, [
      process.execPath,
      "-e",
      `const s = require("dgram").createSocket("udp4");
      let i = 0; const next = () => i >= ${FLOWS} ? s.close() : s.send("x", 20000 + i++, "10.0.0.2", () => (i % 50 ? next() : setTimeout(next, 5))); next();`,
    ]);
    const download = topo.spawn(topo.lan, [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "http://10.0.0.2:8000/bytes?n=100000000000&rate=2000000",
    ]);
    const wrapper = join(topo.dir, "chromium-in-gw");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.gw} /usr/bin/chromium "$@"\n`, { mode: 0o700 });
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      ],
    });
    const pid = g.proc.pid!;
    const phase = async (open: boolean): Promise<number> => {
      const page = open ? await browser!.newPage() : undefined;
      if (page) await page.goto("http://127.0.0.1:8080/");
      await new Promise((r) => setTimeout(r, 2000)); // settle
      const t0 = processSeconds(pid);
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const used = processSeconds(pid) - t0;
      await page?.close();
      return (100 * used) / SECONDS; // % of one core
    };
    const closed: number[] = [],
      open: number[] = [];
    for (let k = 0; k < 2; k++) {
      closed.push(await phase(false));
      open.push(await phase(true));
    }
    const avg = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    const live = JSON.parse(
      topo.exec(topo.gw, [
        process.execPath,
        join(__dirname, "..", "dist", "ipmasq.js"),
        "status",
        "--json",
        "--state-dir",
        join(topo.dir, "state"),
      ]),
    ).connections;
    const lines = [
      `status page cost (x64, ${SECONDS} s phases, ${live} connections in the table, a 16 Mbit/s download running)`,
      "",
      "| page | gateway CPU, % of one core (each phase) | mean |",
      "|---|---|---:|",
      `| closed | ${closed.map((c) => c.toFixed(2)).join(", ")} | ${avg(closed).toFixed(2)} |`,
      `| open | ${open.map((c) => c.toFixed(2)).join(", ")} | ${avg(open).toFixed(2)} |`,
      "",
      `the open page costs ${(avg(open) - avg(closed)).toFixed(2)} % of one core`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const out = join(__dirname, "results", "status-page.md");
    writeFileSync(out, `${lines.join("\n")}\n`);
    wrote([out]);
    download.kill("SIGKILL");
    g.proc.kill("SIGTERM");
    await waitExit(g.proc);
  } finally {
    await browser?.close();
    topo.destroy();
  }
}

void main();
