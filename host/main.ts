// Entry point of the single artifact: the CLI. Run from source, it is also the module Piscina's
// worker threads load for their task (runWorker); bundled, they run host/worker/thread.ts.
import { isMainThread } from "node:worker_threads";
import { main } from "./cli/cli";

export { runWorker } from "./worker/loop";

if (!isMainThread) {
  // a worker thread loading runWorker from source: nothing to start
} else if (Number(process.versions.node.split(".")[0]) < 20) {
  // the packet core needs Node 20's WebAssembly threads and SIMD; Debian 12's nodejs is 18
  process.stderr.write(
    `ipmasq needs Node.js 20 or newer; this is ${process.version} (Debian 12's nodejs package is 18: install Node.js 20 from the Node.js project's own Debian packages)\n`,
  );
  process.exit(1);
} else {
  // Exit once what was written has left: stdout into a pipe is written asynchronously, and a
  // large answer (`ipmasq conns --json | jq` at a million rows) would be cut short.
  const exit = (code: number): void => {
    process.stdout.write("", () => process.exit(code));
  };
  main(process.argv.slice(2), __filename).then(exit, (e) => {
    process.stderr.write(`ipmasq: ${(e as Error).stack ?? e}\n`);
    exit(1);
  });
}
