// The program of a worker thread when bundled (build.mjs makes it a bundle of its own, carried
// as text by the main one): Piscina's worker code, whose only task is runWorker. A worker thus
// loads the data path and nothing of the CLI, the control server or the policy parser.
import "piscina/dist/worker.js";
