// Operations end to end: graceful restart under a running download, the Prometheus endpoint,
// status, and boot persistence (install writes a unit or an rc script; the rc script really
// starts and stops the gateway).
import t from "tap";
import { join } from "node:path";
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, sleep, until, outcome } from "../harness/topology";
import { kernelState } from "./helpers/kernel-state";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sha256Of } = require("./peers/data.js");

const PEERS = join(__dirname, "peers");
const NODE = process.execPath;
const BUNDLE = join(__dirname, "..", "dist", "ipmasq.js");


t.test("operations", async (t) => {
  const topo = makeTopology("ops");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  // the commands that talk to the gateway find it through the state directory; check, install and
  // uninstall need none (and take no such option)
  const ipmasq = (...args: string[]): string => topo.exec(topo.gw, [NODE, BUNDLE, ...args, ...(["check", "install", "uninstall"].includes(args[0]) ? [] : ["--state-dir", state])]);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  const before = kernelState(topo, topo.gw);
  const config = writeConfig(topo);

  await t.test("graceful restart, by command and by SIGHUP: a download keeps going on the same flow and arrives byte-exact", async (t) => {
    const g = await startGateway(topo, ["--config", config, "--metrics", "9100"], state);
    const pid1 = JSON.parse(ipmasq("status", "--json")).pid;
    // whichever process holds the gateway when this ends (a restart replaces it) stops, also on a
    // failure: the next test starts its own
    t.teardown(async () => {
      try {
        const pid = Number(JSON.parse(ipmasq("status", "--json")).pid);
        process.kill(pid, "SIGTERM");
        await until(() => !existsSync(`/proc/${pid}`), 15_000);
      } catch { /* not running */ }
    });
    const n = 40 * 1024 * 1024;
    const file = join(topo.dir, "long");
    const curl = topo.spawn(topo.lan, ["curl", "-sS", "--limit-rate", "1600K", "-o", file, `http://10.0.0.2:8080/bytes?n=${n}&seed=21`]);
    const done = new Promise<number | null>((resolve) => curl.on("exit", resolve));
    type Row = { remote: string; lan: string; public: string; bytesIn: number };
    const flow = (): Row | undefined => (JSON.parse(ipmasq("conns", "--json")) as Row[]).find((r) => r.remote === "10.0.0.2:8080");
    const pidNow = (): number | undefined => { try { return JSON.parse(ipmasq("status", "--json")).pid; } catch { return undefined; } };
    const received = (): number => { try { return statSync(file).size; } catch { return 0; } };

    // Hands over (by `ipmasq restart`, or by SIGHUP) while the download runs; the new process
    // must have taken the flow over: same public port, and its byte count carried on, not reset.
    const handOver = async (how: string, trigger: () => void, oldPid: number, log: () => string): Promise<number> => {
      await until(() => received() > 0 && (flow()?.bytesIn ?? 0) > 0);
      const before = flow()!;
      t.equal(curl.exitCode, null, `${how}: the download is under way at the restart (${(received() / 1e6).toFixed(1)} MB so far)`);
      trigger();
      let pid: number | undefined;
      await until(() => { pid = pidNow(); return pid !== undefined && pid !== oldPid; }, 20_000);
      const tookOver = (): RegExpExecArray | null => /took over (\d+) connections/.exec(log().slice(log().lastIndexOf("graceful restart")));
      await until(() => tookOver() !== null); // the new process writes to the same stderr
      const took = tookOver();
      t.ok(took && Number(took[1]) >= 1, `${how}: a new process (${pid}) took over ${took?.[1]} connections from ${oldPid}`);
      const after = flow();
      t.equal(after?.public, before.public, `${how}: the flow kept its public port ${before.public}`);
      t.equal(after?.lan, before.lan, `${how}: and its LAN end`);
      t.ok(after!.bytesIn >= before.bytesIn, `${how}: its byte count carried over (${before.bytesIn} -> ${after!.bytesIn}), not started again`);
      const grown = after!.bytesIn;
      // TCP backs off while no process reads the TUN (each lost retransmission doubles the wait:
      // a handover of a few seconds on a loaded machine can mean 10 s before the next one)
      const waited = await until(() => (flow()?.bytesIn ?? 0) > grown + 1_000_000, 40_000);
      t.pass(`${how}: bytes still grow on the same flow in the new process (1 MB more after ${waited} ms)`);
      return pid!;
    };
    const pid2 = await handOver("ipmasq restart", () => t.match(ipmasq("restart"), /restarting/), pid1, g.log);
    await waitExit(g.proc, 20_000);
    const pid3 = await handOver("SIGHUP", () => topo.exec(topo.gw, ["kill", "-HUP", String(pid2)]), pid2, g.log);
    t.equal(await done, 0, "curl completed");
    t.equal(topo.exec(topo.lan, ["sha256sum", file]).split(" ")[0], sha256Of(n, 21), "40 MB byte-exact across both restarts");

    const metrics = topo.exec(topo.gw, ["curl", "-sS", "http://127.0.0.1:9100/metrics"]);
    t.match(metrics, /^ipmasq_packets_total\{direction="in"\} [1-9]/m, "metrics: packets by direction");
    t.match(metrics, /^ipmasq_connections\{proto="tcp",state="[A-Z_]+"\} \d+/m, "metrics: connections by protocol and state");
    t.match(metrics, /^ipmasq_table_capacity 65536$/m, "metrics: table fill");
    t.match(metrics, /^ipmasq_worker_batches_total\{worker="0"\} \d+/m, "metrics: per-worker load");
    t.equal(outcome(() => topo.exec(topo.gw, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:9100/metrics"])).code, 7, "metrics are not served on other addresses (curl 7: could not connect)");

    topo.exec(topo.gw, ["kill", "-TERM", String(pid3)]);
    for (let i = 0; i < 50 && kernelState(topo, topo.gw) !== before; i++) await sleep(200);
    t.equal(kernelState(topo, topo.gw), before, "after the new process stops, the kernel is as before");
  });

  await t.test("install: a systemd unit, or an rc script that starts and stops the gateway", async (t) => {
    const root = join(topo.dir, "root");
    t.match(ipmasq("install", "--init", "systemd", "--root", root, "--config", "/etc/ipmasq.conf"), /wrote \/etc\/systemd\/system\/ipmasq.service/);
    const unit = readFileSync(join(root, "etc/systemd/system/ipmasq.service"), "utf8");
    t.match(unit, new RegExp(`ExecStart=${NODE} /usr/local/lib/ipmasq/ipmasq.js run --config /etc/ipmasq.conf`));
    t.match(unit, /ExecReload=\/bin\/kill -HUP \$MAINPID/);
    t.match(unit, /WantedBy=multi-user.target/);
    t.equal(readlinkSync(join(root, "usr/local/sbin/ipmasq")), "../lib/ipmasq/ipmasq.js");
    t.match(ipmasq("install", "--init", "sysv", "--root", root), /wrote \/etc\/rc.d\/rc.ipmasq/);
    const rc = join(root, "etc/rc.d/rc.ipmasq");
    const env = ["env", `IPMASQ=${join(root, "usr/local/sbin/ipmasq")}`, `CONFIG=${config}`, `LOG=${join(topo.dir, "rc.log")}`, `IPMASQ_OPTS=--state-dir ${state}`];
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "start"]), /ipmasq started/, "rc.ipmasq start");
    t.match(topo.exec(topo.lan, ["curl", "-sS", "--max-time", "5", "http://10.0.0.2:8080/"]), /10\.0\.0\.1/, "the gateway it started masquerades");
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "status"]), /connections \d+ of 65536/, "rc.ipmasq status");
    t.match(topo.exec(topo.gw, [...env, "sh", rc, "stop"]), /ipmasq stopped/, "rc.ipmasq stop");
    t.equal(kernelState(topo, topo.gw), before, "and the kernel is as before");
    t.match(ipmasq("uninstall", "--root", root), /removed/);
    t.notOk(existsSync(join(root, "etc/systemd/system/ipmasq.service")) || existsSync(rc) || existsSync(join(root, "usr/local/lib/ipmasq/ipmasq.js")), "uninstall removes what install wrote");
  });
});
