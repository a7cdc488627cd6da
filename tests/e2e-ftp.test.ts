// The FTP helper (the seed's ip_masq_ftp) end to end with vsftpd and curl: a LAN client against a
// WAN server in active (PORT, EPRT) and passive (PASV, EPSV) modes, and a LAN server behind a
// port forward; files byte-exact. With the helper off, active mode fails (it needs the helper).
import t from "tap";
import { join } from "node:path";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { makeTopology, writeConfig, startGateway, waitExit, until, outcome, SEED_CONFIG } from "../harness/topology";
import { BUNDLE } from "../harness/ipmasq-cli";
import { vsftpd } from "../harness/ftp-server";

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

t.test("FTP through the gateway", async (t) => {
  const topo = makeTopology("ftp");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const root = join(topo.dir, "ftproot");
  mkdirSync(root, { mode: 0o755 });
  const data = randomBytes(3 * 1024 * 1024 + 123);
  writeFileSync(join(root, "file.bin"), data);
  vsftpd(topo, topo.wan, root, "wan");
  vsftpd(topo, topo.lan, root, "lan");
  const listening = (ns: string): boolean => topo.exec(ns, ["ss", "-Hltn", "sport = :21"]).trim() !== "";
  await until(() => listening(topo.wan) && listening(topo.lan));

  const g = await startGateway(
    topo,
    ["--config", writeConfig(topo, `${SEED_CONFIG}ipmasqadm portfw -a -P tcp -L 10.0.0.1 21 -R 192.168.0.2 21\n`)],
    state,
  );
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });

  const MODES: Array<[string, string[]]> = [
    ["active, EPRT", ["--ftp-port", "-"]],
    ["active, PORT", ["--ftp-port", "-", "--disable-eprt"]],
    ["passive, EPSV", []],
    ["passive, PASV", ["--disable-epsv"]],
  ];
  for (const [mode, args] of MODES) {
    const out = join(topo.dir, `lan-${mode.replace(/\W+/g, "-")}`);
    topo.exec(topo.lan, ["curl", "-sS", "--max-time", "20", ...args, "-o", out, "ftp://10.0.0.2/file.bin"]);
    t.equal(sha(readFileSync(out)), sha(data), `LAN client, WAN server, ${mode}: byte-exact`);
  }
  for (const [mode, args] of MODES.slice(2)) {
    const out = join(topo.dir, `wan-${mode.replace(/\W+/g, "-")}`);
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "20", ...args, "-o", out, "ftp://10.0.0.1/file.bin"]);
    t.equal(sha(readFileSync(out)), sha(data), `WAN client, LAN server behind port forward, ${mode}: byte-exact`);
  }
  const conns = JSON.parse(topo.exec(topo.gw, [process.execPath, BUNDLE, "conns", "--json", "--state-dir", state]));
  t.ok(
    conns.some((c: { remote: string }) => c.remote === "10.0.0.2:21"),
    "the control connection is in the table",
  );

  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  const off = await startGateway(topo, ["--config", writeConfig(topo), "--ftp-helper", "off"], state);
  try {
    // the server is told 192.168.0.2 and cannot connect there: it answers 425 (curl exits 8,
    // "weird server reply") or curl gives up waiting for the data connection (28)
    const active = outcome(() =>
      topo.exec(topo.lan, [
        "curl",
        "-sS",
        "--max-time",
        "8",
        "--ftp-port",
        "-",
        "--disable-eprt",
        "-o",
        "/dev/null",
        "ftp://10.0.0.2/file.bin",
      ]),
    );
    t.ok(
      [8, 28, 30].includes(active.code),
      `with --ftp-helper off, active FTP from the LAN fails (curl ${active.code}: ${active.out.trim().split("\n")[0]})`,
    );
    t.match(
      topo.exec(topo.lan, [
        "curl",
        "-sS",
        "--max-time",
        "8",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "ftp://10.0.0.2/file.bin",
      ]),
      /^226$/,
      "while passive FTP, which needs no helper, still works",
    );
  } finally {
    off.proc.kill("SIGTERM");
    await waitExit(off.proc);
  }
});
