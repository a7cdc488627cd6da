// Entry point of the single artifact. In the main thread it is the CLI; in a Piscina worker
// thread of the bundle it is Piscina's worker, and the module it loads for tasks (runWorker).
import { isMainThread } from "node:worker_threads";
import { main } from "./cli";

export { runWorker } from "./worker/loop";

declare const IPMASQ_BUNDLE: boolean | undefined;

if (!isMainThread) {
  // The bundle is Piscina's worker file too (build.mjs); from source, Piscina's own file is.
  if (typeof IPMASQ_BUNDLE !== "undefined" && IPMASQ_BUNDLE) require("piscina/dist/worker.js");
} else if (Number(process.versions.node.split(".")[0]) < 20) {
  // the packet core needs Node 20's WebAssembly threads and SIMD; Debian 12's nodejs is 18
  process.stderr.write(`ipmasq needs Node.js 20 or newer; this is ${process.version} (Debian 12's nodejs package is 18: install Node.js 20 from the Node.js project's own Debian packages)\n`);
  process.exit(1);
} else {
  main(process.argv.slice(2), __filename).then(
    (code) => process.exit(code),
    (e) => { process.stderr.write(`ipmasq: ${(e as Error).stack ?? e}\n`); process.exit(1); });
}
