// vsftpd as a test's FTP server: anonymous, read-only, serving `root`, active and passive modes
// allowed, in the foreground in namespace `ns`; IPv6 only with `ipv6`.
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Topology } from "./topology";

export function vsftpd(topo: Topology, ns: string, root: string, name: string, ipv6 = false): void {
  // vsftpd needs an empty directory to chroot into; one of the test's own (removed with it)
  const empty = join(topo.dir, "vsftpd-empty");
  mkdirSync(empty, { recursive: true, mode: 0o755 });
  const conf = join(topo.dir, `${name}.conf`);
  writeFileSync(
    conf,
    [
      ipv6 ? "listen=NO" : "listen=YES",
      ipv6 ? "listen_ipv6=YES" : "listen_ipv6=NO",
      "anonymous_enable=YES",
      "local_enable=NO",
      "write_enable=NO",
      `anon_root=${root}`,
      "no_anon_password=YES",
      "seccomp_sandbox=NO",
      "background=NO",
      `secure_chroot_dir=${empty}`,
      "pasv_enable=YES",
      "port_enable=YES",
      "connect_from_port_20=NO",
      "",
    ].join("\n"),
  );
  topo.spawn(ns, ["vsftpd", conf]);
}
