// `npm run demo`: the seed article's network, built in three network namespaces on this machine.
//   lan 192.168.0.2 --- gw (eth1 192.168.0.1 | eth0 10.0.0.1) --- wan 10.0.0.2
// ipmasq runs in gw with the seed's two ipchains lines; the LAN host fetches a file over HTTP,
// pings and asks a UDP question; the WAN side only ever sees 10.0.0.1. Everything is removed at
// the end, also on failure or Ctrl-C.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, SEED_CONFIG } from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "..", "tests", "peers");
const REQUIRED: Array<[string, string]> = [
  ["ip", "iproute2"],
  ["curl", "curl"],
  ["ping", "iputils-ping"],
];

const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const step = (s: string): void => say(`\n== ${s}`);
const indent = (s: string): string =>
  s
    .trimEnd()
    .split("\n")
    .map((l) => `   ${l}`)
    .join("\n");

function preflight(): void {
  if (process.getuid?.() !== 0)
    throw new Error("the demo makes network namespaces: run it as root (sudo npm run demo)");
  const missing = REQUIRED.filter(([cmd]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`]);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length)
    throw new Error(
      `missing commands: ${missing.map(([c]) => c).join(", ")} (apt-get install ${missing.map(([, p]) => p).join(" ")})`,
    );
}

async function demo(): Promise<void> {
  preflight();
  step("three namespaces: lan, gw, wan");
  const t = makeTopology("demo", { scratch: "ipmasq-demo-" });
  const cleanup = (): void => {
    t.destroy();
  };
  process.on("SIGINT", () => {
    cleanup();
    say(
      "\ninterrupted: the namespaces, their processes and the demo's files are removed; nothing outside them was changed",
    );
    process.exit(130);
  });
  try {
    say(
      indent(
        `lan ${t.lan}: 192.168.0.2/24, default via 192.168.0.1\ngw  ${t.gw}: eth1 192.168.0.1/24, eth0 10.0.0.1/24, default via 10.0.0.2\nwan ${t.wan}: 10.0.0.2/24 (no route to 192.168.0.0/24)`,
      ),
    );
    await waitListening(t.spawn(t.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
    await waitListening(t.spawn(t.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));

    step(
      `the seed's rc.ipmasq rules, as /etc/ipmasq.conf would hold them (written to ${join(t.dir, "ipmasq.conf")} for the demo)`,
    );
    say(indent(SEED_CONFIG));
    const state = join(t.dir, "state");
    step("ipmasq run (in gw)");
    const g = await startGateway(t, ["--config", writeConfig(t)], state);
    say(indent(g.log().replace(/^ready\n/m, "")));
    try {
      step("lan: curl http://10.0.0.2:8080/ (a 10 MB file)");
      const file = join(t.dir, "download");
      const headers = t.exec(t.lan, [
        "curl",
        "-sS",
        "-D",
        "-",
        "-o",
        file,
        "-w",
        "%{size_download} bytes in %{time_total} s\n",
        "http://10.0.0.2:8080/bytes?n=10485760&seed=1",
      ]);
      say(
        indent(
          headers
            .split("\n")
            .filter((l) => /bytes in|x-seen-from/i.test(l))
            .join("\n"),
        ),
      );
      say(indent(`sha256 ${t.exec(t.lan, ["sha256sum", file]).split(" ")[0]}`));

      step("lan: ping -c 3 10.0.0.2");
      say(
        indent(
          t
            .exec(t.lan, ["ping", "-c", "3", "-i", "0.3", "10.0.0.2"])
            .split("\n")
            .filter((l) => /bytes from|packet loss/.test(l))
            .join("\n"),
        ),
      );

      step("lan: UDP question to 10.0.0.2:5353");
      say(
        indent(t.exec(t.lan, [NODE, join(PEERS, "udp-echo.js"), "client", "10.0.0.2", "5353", "what is my address?"])),
      );

      step("wan: the WAN host cannot reach 192.168.0.2, even with a route to it");
      t.exec(t.wan, ["ip", "route", "add", "192.168.0.0/24", "via", "10.0.0.1"]);
      let reached = true;
      try {
        t.exec(t.wan, ["ping", "-c", "1", "-W", "1", "192.168.0.2"]);
      } catch {
        reached = false;
      }
      say(
        indent(reached ? "reached (unexpected!)" : "ping 192.168.0.2: no answer (dropped by the forward policy DENY)"),
      );

      step("ipmasq conns (the live connection table)");
      say(indent(t.exec(t.gw, [NODE, BUNDLE, "conns", "--state-dir", state])));
      step("ipmasq hosts (traffic per LAN host since start)");
      say(indent(t.exec(t.gw, [NODE, BUNDLE, "hosts", "--state-dir", state])));
      step("ipmasq status");
      say(indent(t.exec(t.gw, [NODE, BUNDLE, "status", "--state-dir", state])));
    } finally {
      step("stopping ipmasq: every kernel setting it changed is restored");
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
      say(
        indent(
          g
            .log()
            .split("\n")
            .filter((l) => /stopping|restored/.test(l))
            .join("\n"),
        ),
      );
    }
  } finally {
    cleanup();
    say("\nnamespaces removed.");
  }
}

demo().catch((e) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exit(1);
});
