// The built artifact, and how the tests, the benchmarks and the demo run its commands in a
// namespace they made.
import { join } from "node:path";

export const BUNDLE = join(__dirname, "..", "dist", "ipmasq.js");
export const NODE = process.execPath;

const FIND_NO_GATEWAY = ["check", "install", "uninstall"]; // commands that take no --state-dir

// `ipmasq ARGS` run in namespace `ns`, for the gateway whose state directory is `state`.
export function ipmasqCli(
  exec: (ns: string, cmd: string[]) => string,
  ns: string,
  state: string,
): (...args: string[]) => string {
  return (...args) =>
    exec(ns, [NODE, BUNDLE, ...args, ...(FIND_NO_GATEWAY.includes(args[0]) ? [] : ["--state-dir", state])]);
}
