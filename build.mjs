// Builds the single artifact dist/ipmasq.js: the host, the TS core, the WASM core (embedded),
// Piscina, and koffi with its linux x64, arm64 and armhf binaries (embedded brotli-compressed,
// loaded with process.dlopen). Nothing from node_modules is needed beside it.
// The worker threads run a bundle of their own (build/worker.js: the data path only, carried as
// text by the main one and started with `eval`), so that each thread loads what it runs.
//
//   node build.mjs            dist/ipmasq.js
//   node build.mjs --bench    also build/bench-*.js (benchmarks run the same bundled code)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { createHash } from "node:crypto";
import { brotliCompressSync, constants as zlib } from "node:zlib";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const koffiVersion = JSON.parse(readFileSync(join(root, "node_modules/koffi/package.json"), "utf8")).version;

// koffi's prebuilt binaries per Node arch: the package and the file inside it.
const KOFFI_BINARIES = {
  x64: ["koffi-linux-x64", "linux_x64/koffi.node"],
  arm64: ["koffi-linux-arm64", "linux_arm64/koffi.node"],
  arm: ["koffi-linux-arm", "linux_armhf/koffi.node"],
};

// The binary for this machine is installed by npm; the others are fetched from the registry with
// `npm pack` (npm installs only the current platform's optional package).
function koffiBinary(pkg, file) {
  const installed = join(root, "node_modules/@koromix", pkg, file);
  if (existsSync(installed)) return installed;
  const dir = join(root, "build/koffi", pkg);
  const unpacked = join(dir, "package", file);
  if (!existsSync(unpacked)) {
    mkdirSync(dir, { recursive: true });
    const tgz = execFileSync("npm", ["pack", "--silent", `@koromix/${pkg}@${koffiVersion}`], {
      cwd: dir,
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .pop();
    execFileSync("tar", ["xzf", tgz], { cwd: dir });
  }
  return unpacked;
}

// What the bundles carry of each binary: its digest, and (main bundle only) its bytes, brotli
// at the highest setting (a third of gzip's size; compressed once, cached in build/).
function embedded(arch, withBytes) {
  const bytes = readFileSync(koffiBinary(...KOFFI_BINARIES[arch]));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (!withBytes) return `{ sha256: ${JSON.stringify(sha256)} }`;
  const cached = join(root, "build/koffi", `${sha256}.br`);
  if (!existsSync(cached)) {
    mkdirSync(dirname(cached), { recursive: true });
    writeFileSync(
      cached,
      brotliCompressSync(bytes, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_LGWIN]: 24 } }),
    );
  }
  return `{ sha256: ${JSON.stringify(sha256)}, brotli: () => ${JSON.stringify(readFileSync(cached).toString("base64"))} }`;
}

const embedPlugin = (forWorker) => ({
  name: "ipmasq-embed",
  setup(b) {
    // The WASM core, embedded as bytes.
    b.onResolve({ filter: /\/wasm-bytes$/ }, () => ({ path: join(root, "build/core.wasm") }));
    // koffi: loaded from a private file (host/tun/embedded-addon.ts).
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: "koffi", namespace: "koffi-embedded" }));
    b.onLoad({ filter: /.*/, namespace: "koffi-embedded" }, () => ({
      resolveDir: root,
      contents: `
const { loadEmbeddedAddon } = require(${JSON.stringify(join(root, "host/tun/embedded-addon.ts"))});
module.exports = loadEmbeddedAddon("koffi-${koffiVersion}", {
${Object.keys(KOFFI_BINARIES)
  .map((arch) => `  ${JSON.stringify(arch)}: ${embedded(arch, !forWorker)},`)
  .join("\n")}
});
`,
    }));
    if (forWorker) {
      b.onResolve({ filter: /^piscina\/dist\/worker\.js$/ }, () => ({
        path: join(root, "node_modules/piscina/dist/worker.js"),
      }));
      // Piscina's worker code loads its task's module by file name; here it is in the bundle.
      b.onLoad({ filter: /piscina[\\/]dist[\\/]worker\.js$/ }, (args) => ({
        contents: patch(
          args.path,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of piscina's code, matched as it is
          "Promise.resolve(`${filename}`).then(s => __importStar(require(s)))",
          `Promise.resolve().then(() => __importStar(require(${JSON.stringify(join(root, "host/worker/loop.ts"))})))`,
        ),
        loader: "js",
      }));
      return;
    }
    // The worker threads' program, as text.
    b.onResolve({ filter: /^ipmasq-worker-source$/ }, () => ({
      path: join(root, "build/worker.js"),
      namespace: "worker-source",
    }));
    b.onLoad({ filter: /.*/, namespace: "worker-source" }, (args) => ({
      contents: readFileSync(args.path, "utf8"),
      loader: "text",
    }));
    // Piscina starts its workers from a file; in the bundle they run that text.
    b.onLoad({ filter: /piscina[\\/]dist[\\/]worker_pool[\\/]index\.js$/ }, (args) => ({
      contents: patch(
        args.path,
        "new node_worker_threads_1.Worker(filename, workerOpts)",
        'new node_worker_threads_1.Worker(require("ipmasq-worker-source"), { ...workerOpts, eval: true })',
      ),
      loader: "js",
    }));
    // The status page's script is served, not run: embedded as text like the page and its style.
    b.onLoad({ filter: /host[\\/]web[\\/]assets[\\/][^\\/]+\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8"),
      loader: "text",
    }));
  },
});

// A change to a dependency's source; refuses to build when the text is no longer there.
function patch(file, from, to) {
  const text = readFileSync(file, "utf8");
  if (!text.includes(from)) throw new Error(`${file} changed: cannot find ${from}`);
  return text.replace(from, to);
}

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  loader: { ".wasm": "binary", ".node": "binary", ".8": "text", ".5": "text", ".html": "text", ".css": "text" },
  logLevel: "warning",
  legalComments: "none",
  // Piscina loads it only for its niceIncrement option, which ipmasq does not use; bundled, it
  // would carry a 0.5 MB binary that could not load anyway.
  external: ["@napi-rs/nice"],
};

await build({
  ...common,
  plugins: [embedPlugin(true)],
  entryPoints: [join(root, "host/worker/thread.ts")],
  outfile: join(root, "build/worker.js"),
});
await build({
  ...common,
  plugins: [embedPlugin(false)],
  entryPoints: [join(root, "host/main.ts")],
  outfile: join(root, "dist/ipmasq.js"),
  banner: { js: "#!/usr/bin/env node" },
});
chmodSync(join(root, "dist/ipmasq.js"), 0o755);

if (process.argv.includes("--bench")) {
  for (const name of ["core", "table"]) {
    await build({
      ...common,
      plugins: [embedPlugin(false)],
      entryPoints: [join(root, `bench/${name}.ts`)],
      outfile: join(root, `build/bench-${name}.js`),
    });
  }
}
