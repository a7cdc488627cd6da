// Operations end to end: graceful restart under a running download, the Prometheus endpoint,
// status, and boot persistence (install writes a unit or an rc script; the rc script really
// starts and stops the gateway).
import t from "tap";
import { join } from "node:path";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import {
  makeTopology,
  writeConfig,
  startGateway,
  waitExit,
  waitListening,
  sleep,
  until,
  outcome,
} from "../harness/topology";
import { kernelState } from "../harness/kernel-state";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");
import { NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");

t.test("operations", async (t) => {
  const topo = makeTopology("ops");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  // the commands that talk to the gateway find it through the state directory; check, install and
  // uninstall need none (and take no such option)
  const ipmasq = ipmasqCli(topo.exec, topo.gw, state);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const before = kernelState(topo, topo.gw);
  const config = writeConfig(topo);

  await t.test(
    '"ready" means forwarding: every worker reads its queues, and a datagram sent the instant "ready" appears is answered',
    async (t) => {
      await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "udp-echo.js"), "server", "5353"]));
      const probe = topo.spawn(topo.lan, [NODE, join(PEERS, "udp-probe.js"), "10.0.0.2", "5353"]);
      await waitListening(probe);
      let heard = "";
      probe.stdout!.on("data", (d) => {
        heard += d;
      });
      const g = await startGateway(topo, ["--config", config, "--workers", "2"], state);
      probe.kill("SIGUSR2");
      const status = JSON.parse(ipmasq("status", "--json"));
      t.equal(
        status.workersReading,
        2,
        "when it says ready, both workers read their queues (before, they started after it: a datagram sent at ready waited 50-84 ms for them)",
      );
      await until(() => /answered|lost/.test(heard), 5000);
      t.match(heard, /^answered /m, `the datagram sent at "ready" was answered (${heard.trim()} ms)`);
      g.proc.kill("SIGTERM");
      await waitExit(g.proc);
    },
  );

  await t.test(
    "graceful restart under a download, 20 times by command and by SIGHUP: the flow is carried over and moves again every time, and arrives byte-exact",
    async (t) => {
      const g = await startGateway(topo, ["--config", config, "--metrics", "9100"], state);
      const pid1 = JSON.parse(ipmasq("status", "--json")).pid;
      // whichever process holds the gateway when this ends (a restart replaces it) stops, also on a
      // failure: the next test starts its own
      t.teardown(async () => {
        try {
          const pid = Number(JSON.parse(ipmasq("status", "--json")).pid);
          process.kill(pid, "SIGTERM");
          await until(() => !existsSync(`/proc/${pid}`), 15_000);
        } catch {
          /* not running */
        }
      });
      // Paced by the server, so that the data crosses the gateway while the restarts happen (paced
      // by curl, the LAN host's kernel took all of it in seconds and a restart then had nothing left
      // to carry); the pace is lifted once the restarts are done.
      const n = 256 * 1024 * 1024,
        seed = 21,
        RESTARTS = 20;
      const curl = topo.spawn(topo.lan, [
        "bash",
        "-o",
        "pipefail",
        "-c",
        `curl -sS 'http://10.0.0.2:8080/bytes?n=${n}&seed=${seed}&rate=1000000' | sha256sum`,
      ]);
      let digest = "";
      curl.stdout!.on("data", (d) => {
        digest += d;
      });
      const done = new Promise<number | null>((resolve) => curl.on("exit", resolve));
      type Row = { remote: string; lan: string; public: string; bytesIn: number };
      const flow = (): Row | undefined =>
        (JSON.parse(ipmasq("conns", "--json")) as Row[]).find((r) => r.remote === "10.0.0.2:8080");
      const pidNow = (): number | undefined => {
        try {
          return JSON.parse(ipmasq("status", "--json")).pid;
        } catch {
          return undefined;
        }
      };
      const tookOver = (): number => g.log().match(/took over \d+ connections/g)?.length ?? 0; // the new processes write to the same stderr

      // Hands over (by `ipmasq restart`, or by SIGHUP) while the download runs; the new process
      // must have taken the flow over (same public port and LAN end, its byte count carried on)
      // and the flow must move again. Returns the new pid and how long the flow stood still.
      const handOver = async (
        how: string,
        trigger: () => void,
        oldPid: number,
      ): Promise<{ pid: number; still: number }> => {
        const before = flow()!;
        t.ok(
          before.bytesIn < n,
          `${how}: the download is under way at the gateway (${(before.bytesIn / 1e6).toFixed(1)} of ${n / 1e6} MB crossed)`,
        );
        const handed = tookOver();
        const t0 = Date.now();
        trigger();
        let pid: number | undefined;
        await until(() => {
          pid = pidNow();
          return pid !== undefined && pid !== oldPid;
        }, 20_000);
        await until(() => tookOver() > handed);
        await until(() => !existsSync(`/proc/${oldPid}`), 20_000);
        const after = flow();
        t.ok(
          after?.public === before.public && after?.lan === before.lan && after.bytesIn >= before.bytesIn,
          `${how}: process ${pid} took the flow over from ${oldPid} (public ${after?.public}, LAN ${after?.lan}, ${before.bytesIn} -> ${after?.bytesIn} bytes)`,
        );
        // a stall is a flow that never moves again; how soon it moves is bench:restart's to measure
        await until(() => (flow()?.bytesIn ?? 0) > after!.bytesIn + 256 * 1024, 60_000);
        return { pid: pid!, still: Date.now() - t0 };
      };
      await until(() => (flow()?.bytesIn ?? 0) > 0);
      let pid = pid1;
      const still: number[] = [];
      for (let i = 0; i < RESTARTS; i++) {
        const byCommand = i % 2 === 0;
        const how = `restart ${i + 1} (${byCommand ? "ipmasq restart" : "SIGHUP"})`;
        const old = pid;
        const r = await handOver(
          how,
          byCommand
            ? () => t.match(ipmasq("restart"), /restarting/)
            : () => topo.exec(topo.gw, ["kill", "-HUP", String(old)]),
          old,
        );
        if (i === 0) await waitExit(g.proc, 20_000);
        pid = r.pid;
        still.push(r.still);
      }
      t.pass(
        `the flow moved again after every restart: 256 KB more ${Math.min(...still)}-${Math.max(...still)} ms after the trigger (${still.join(", ")})`,
      );
      topo.exec(topo.wan, ["curl", "-sS", "http://127.0.0.1:8080/rate?r=0"]); // the rest as fast as it goes
      t.equal(await done, 0, "the download completed");
      t.equal(digest.split(" ")[0], sha256Of(n, seed), `${n / 1024 / 1024} MiB byte-exact across ${RESTARTS} restarts`);
      const pid3 = pid;

      const metrics = topo.exec(topo.gw, ["curl", "-sS", "http://127.0.0.1:9100/metrics"]);
      t.match(metrics, /^ipmasq_packets_total\{direction="in"\} [1-9]/m, "metrics: packets by direction");
      t.match(
        metrics,
        /^ipmasq_connections\{proto="tcp",state="[A-Z_]+"\} \d+/m,
        "metrics: connections by protocol and state",
      );
      t.match(metrics, /^ipmasq_table_capacity 65536$/m, "metrics: table fill");
      t.match(metrics, /^ipmasq_worker_batches_total\{worker="0"\} \d+/m, "metrics: per-worker load");
      t.equal(
        outcome(() => topo.exec(topo.gw, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:9100/metrics"])).code,
        7,
        "metrics are not served on other addresses (curl 7: could not connect)",
      );

      topo.exec(topo.gw, ["kill", "-TERM", String(pid3)]);
      for (let i = 0; i < 50 && kernelState(topo, topo.gw) !== before; i++) await sleep(200);
      t.equal(kernelState(topo, topo.gw), before, "after the new process stops, the kernel is as before");
    },
  );

  await t.test("install: a systemd unit, or an rc script that starts and stops the gateway", async (t) => {
    const root = join(topo.dir, "root");
    mkdirSync(join(root, "etc"), { recursive: true }); // a folder that was there before install
    writeFileSync(join(root, "etc/hostname"), "gw\n");
    t.match(
      ipmasq("install", "--init", "systemd", "--root", root, "--config", "/etc/ipmasq.conf"),
      `wrote ${root}/etc/systemd/system/ipmasq.service`,
      "install says where it wrote, --root included",
    );
    const unit = readFileSync(join(root, "etc/systemd/system/ipmasq.service"), "utf8");
    t.match(unit, new RegExp(`ExecStart=${NODE} /usr/local/lib/ipmasq/ipmasq.js run --config /etc/ipmasq.conf`));
    t.match(unit, /ExecReload=\/bin\/kill -HUP \$MAINPID/);
    t.match(unit, /WantedBy=multi-user.target/);
    t.equal(readlinkSync(join(root, "usr/local/sbin/ipmasq")), "../lib/ipmasq/ipmasq.js");
    t.match(
      ipmasq("install", "--init", "sysv", "--root", root),
      `wrote ${root}/etc/rc.d/rc.ipmasq; add to /etc/rc.local:`,
      "on a system without /etc/rc.d/rc.local (Debian), the rc script is called from /etc/rc.local",
    );
    const rc = join(root, "etc/rc.d/rc.ipmasq");
    const env = [
      "env",
      `IPMASQ=${join(root, "usr/local/sbin/ipmasq")}`,
      `CONFIG=${config}`,
      `LOG=${join(topo.dir, "rc.log")}`,
      `IPMASQ_OPTS=--state-dir ${state}`,
    ];
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "start"]), /ipmasq started/, "rc.ipmasq start");
    t.match(
      topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"]),
      /10\.0\.0\.1/,
      "the gateway it started masquerades",
    );
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "status"]), /connections \d+ of 65536/, "rc.ipmasq status");
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "stop"]), /ipmasq stopped/, "rc.ipmasq stop");
    t.equal(kernelState(topo, topo.gw), before, "and the kernel is as before");
    t.match(ipmasq("uninstall", "--root", root), /removed/);
    t.notOk(
      existsSync(join(root, "etc/systemd/system/ipmasq.service")) ||
        existsSync(rc) ||
        existsSync(join(root, "usr/local/lib/ipmasq/ipmasq.js")),
      "uninstall removes what install wrote",
    );
    t.same(
      [readdirSync(root), readdirSync(join(root, "etc"))],
      [["etc"], ["hostname"]],
      "and the folders it made, not those that were there before",
    );
  });
});
