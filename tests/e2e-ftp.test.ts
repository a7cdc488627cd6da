// The FTP helper (the seed's ip_masq_ftp) end to end with vsftpd and curl: a LAN client against a
// WAN server in active (PORT, EPRT) and passive (PASV, EPSV) modes, and a LAN server behind a
// port forward; files byte-exact. With the helper off, active mode fails (it needs the helper).
import t from "tap";
import { join } from "node:path";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { makeTopology, writeConfig, startGateway, waitExit, Topology, SEED_CONFIG } from "../harness/topology";

const BUNDLE = join(__dirname, "..", "dist", "ipmasq.js");

function vsftpd(topo: Topology, ns: string, root: string, name: string): void {
  mkdirSync("/var/run/vsftpd/empty", { recursive: true });
  const conf = join(topo.dir, `${name}.conf`);
  writeFileSync(conf, [
    "listen=YES", "listen_ipv6=NO", "anonymous_enable=YES", "local_enable=NO", "write_enable=NO", `anon_root=${root}`,
    "no_anon_password=YES", "seccomp_sandbox=NO", "background=NO", "secure_chroot_dir=/var/run/vsftpd/empty",
    "pasv_enable=YES", "port_enable=YES", "connect_from_port_20=NO", "",
  ].join("\n"));
  topo.spawn(ns, ["vsftpd", conf]);
}

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
  await new Promise((r) => setTimeout(r, 800));
  t.ok(existsSync(join(root, "file.bin")));

  const g = await startGateway(topo, ["--config", writeConfig(topo, SEED_CONFIG + "ipmasqadm portfw -a -P tcp -L 10.0.0.1 21 -R 192.168.0.2 21\n")], state);
  t.teardown(async () => { g.proc.kill("SIGTERM"); await waitExit(g.proc).catch(() => undefined); });

  const MODES: Array<[string, string[]]> = [
    ["active, EPRT", ["--ftp-port", "-"]],
    ["active, PORT", ["--ftp-port", "-", "--disable-eprt"]],
    ["passive, EPSV", []],
    ["passive, PASV", ["--disable-epsv"]],
  ];
  for (const [mode, args] of MODES) {
    const out = join(topo.dir, `lan-${mode.replace(/\W+/g, "-")}`);
    topo.exec(topo.lan, ["curl", "-sS", "--max-time", "20", ...args, "-o", out, "ftp://10.0.0.2/file.bin"]);
    t.equal(sha(require("node:fs").readFileSync(out)), sha(data), `LAN client, WAN server, ${mode}: byte-exact`);
  }
  for (const [mode, args] of MODES.slice(2)) {
    const out = join(topo.dir, `wan-${mode.replace(/\W+/g, "-")}`);
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "20", ...args, "-o", out, "ftp://10.0.0.1/file.bin"]);
    t.equal(sha(require("node:fs").readFileSync(out)), sha(data), `WAN client, LAN server behind port forward, ${mode}: byte-exact`);
  }
  const conns = JSON.parse(topo.exec(topo.gw, [process.execPath, BUNDLE, "conns", "--json", "--state-dir", state]));
  t.ok(conns.some((c: { remote: string }) => c.remote === "10.0.0.2:21"), "the control connection is in the table");

  g.proc.kill("SIGTERM");
  await waitExit(g.proc);
  const off = await startGateway(topo, ["--config", writeConfig(topo), "--ftp-helper", "off"], state);
  try {
    t.throws(() => topo.exec(topo.lan, ["curl", "-sS", "--max-time", "8", "--ftp-port", "-", "--disable-eprt", "-o", "/dev/null", "ftp://10.0.0.2/file.bin"]),
      "with --ftp-helper off, active FTP from the LAN fails (the server cannot reach 192.168.0.2)");
  } finally {
    off.proc.kill("SIGTERM");
    await waitExit(off.proc);
  }
});
