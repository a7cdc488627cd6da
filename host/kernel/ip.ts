// Running command-line tools (iproute2, ethtool) and reading/writing sysctls. Every call is
// synchronous and says what failed.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

// Runs a command-line tool; says which tool is missing (its Debian package), or what it answered.
export function runTool(tool: string, pkg: string, args: string[]): string {
  try {
    return execFileSync(tool, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; code?: string };
    if (err.code === "ENOENT") throw new Error(`the \`${tool}\` command is not installed (Debian package ${pkg})`);
    throw new Error(`${tool} ${args.join(" ")}: ${(err.stderr ?? String(e)).trim()}`);
  }
}

export function ip(...args: string[]): string {
  return runTool("ip", "iproute2", args);
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
