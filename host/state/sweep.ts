// The state folder after gateways whose network namespace is gone (a test's, a container's): a
// killed gateway's lock, control socket and journal would stay there until a reboot. A gateway's
// files carry its namespace's cookie in their names (`…-net<id>-<tun>…`), and its lock file says
// the namespace's inode. They go once no namespace on this system has that inode: nothing can
// run there again, and its wiring went with it. Inodes of deleted namespaces are reused, so a
// namespace with that inode may be another one — then the files stay, as they would have: this
// never removes what belongs to a live namespace.
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { netnsId } from "./instance";

// Every network namespace something still holds: a process or thread in it, an open descriptor
// of it, a bind mount of it (ip netns add), by inode.
export function liveNamespaces(): Set<string> {
  const live = new Set<string>();
  const add = (link: string): void => {
    const m = /^net:\[(\d+)\]$/.exec(link);
    if (m) live.add(m[1]);
  };
  const links = (dir: string): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const link = (path: string): string => {
    try {
      return readlinkSync(path);
    } catch {
      return "";
    }
  };
  for (const pid of links("/proc").filter((d) => /^\d+$/.test(d))) {
    for (const tid of links(`/proc/${pid}/task`)) add(link(`/proc/${pid}/task/${tid}/ns/net`));
    for (const fd of links(`/proc/${pid}/fd`)) add(link(`/proc/${pid}/fd/${fd}`));
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) add(line.split(" ")[3] ?? "");
  return live;
}

// Removes the files of gateways whose namespace is gone. Returns one line per namespace swept.
export function sweepGone(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const mine = netnsId();
  const swept: string[] = [];
  let live: Set<string> | undefined;
  for (const lock of names.filter((f) => f.startsWith("lock-net"))) {
    const id = /^lock-net([^-]+)-/.exec(lock)?.[1];
    if (!id || id === mine) continue;
    let inode: string | undefined;
    try {
      inode = readFileSync(join(stateDir, lock), "utf8").split("\n")[1]?.trim();
    } catch {
      continue;
    }
    if (!inode || !/^\d+$/.test(inode)) continue; // written by an older ipmasq: cannot tell
    live ??= liveNamespaces();
    if (live.has(inode)) continue;
    const files = names.filter((f) => f.includes(`-net${id}-`));
    for (const f of files) rmSync(join(stateDir, f), { force: true });
    swept.push(`removed the files of a gateway whose network namespace (net:[${inode}]) is gone: ${files.join(", ")}`);
  }
  return swept;
}
