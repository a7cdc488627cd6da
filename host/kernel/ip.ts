// Running command-line tools (iproute2, ethtool) and reading/writing sysctls. Every call is
// synchronous and says what failed.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

// Runs a command-line tool; says which tool is missing (its Debian package), or what it answered.
export function runTool(tool: string, pkg: string, args: string[], input?: string): string {
  try {
    return execFileSync(tool, args, {
      encoding: "utf8",
      input,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as { stderr?: string; code?: string };
    if (err.code === "ENOENT") throw new Error(`the \`${tool}\` command is not installed (Debian package ${pkg})`);
    throw new Error(`${tool} ${args.join(" ")}: ${(err.stderr ?? String(e)).trim()}`);
  }
}

export function ip(...args: string[]): string {
  return runTool("ip", "iproute2", args);
}

// Several commands of one family in one `ip -batch` process: applied in a moment, not one
// process start apart (rules that replace each other leave no gap worth a packet). `force`: go on
// past a failed command (deleting what may be gone already); without it the first failure throws.
export function ipBatch(commands: string[][], o: { ipv6?: boolean; force?: boolean } = {}): void {
  if (!commands.length) return;
  const args = [...(o.ipv6 ? ["-6"] : []), ...(o.force ? ["-force"] : []), "-batch", "-"];
  const input = `${commands.map((c) => c.join(" ")).join("\n")}\n`;
  try {
    runTool("ip", "iproute2", args, input);
  } catch (e) {
    if (o.force) return;
    // "RTNETLINK answers: File exists\nCommand failed -:3": say which command
    const msg = (e as Error).message;
    const line = Number(/Command failed -:(\d+)/.exec(msg)?.[1]);
    const why = msg.slice(`ip ${args.join(" ")}: `.length).split("\n")[0];
    if (!line) throw e;
    throw new Error(`ip ${[...args.slice(0, -2), ...commands[line - 1]].join(" ")}: ${why}`);
  }
}

export function ipJson<T>(...args: string[]): T {
  return JSON.parse(ip("-j", ...args) || "[]") as T;
}

export const sysctlPath = (key: string): string => `/proc/sys/${key.replace(/\./g, "/")}`;

export function readSysctl(key: string): string {
  return readFileSync(sysctlPath(key), "utf8").trim().replace(/\s+/g, " ");
}

export function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(sysctlPath(key), `${value}\n`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot set ${key}=${value}: ${code === "EACCES" || code === "EROFS" || code === "EPERM" ? "needs root (CAP_NET_ADMIN) and a writable /proc/sys" : code}`,
    );
  }
}
