// Builds the single artifact dist/ipmasq.js: the host, the TS core, the WASM core (embedded),
// Piscina (its worker is the bundle itself) and koffi with its linux x64, arm64 and armhf
// binaries (embedded, loaded with process.dlopen). Nothing from node_modules is needed beside it.
//
//   node build.mjs            dist/ipmasq.js
//   node build.mjs --bench    also build/bench-*.js (benchmarks run the same bundled code)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, chmodSync } from "node:fs";
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
    const tgz = execFileSync("npm", ["pack", "--silent", `@koromix/${pkg}@${koffiVersion}`], { cwd: dir, encoding: "utf8" }).trim().split("\n").pop();
    execFileSync("tar", ["xzf", tgz], { cwd: dir });
  }
  return unpacked;
}

const embedPlugin = {
  name: "ipmasq-embed",
  setup(b) {
    b.onResolve({ filter: /^piscina\/dist\/worker\.js$/ }, () => ({ path: join(root, "node_modules/piscina/dist/worker.js") }));
    // The WASM core, embedded as bytes.
    b.onResolve({ filter: /\/wasm-bytes$/ }, () => ({ path: join(root, "build/core.wasm") }));
    // koffi: embedded binaries, written once to a private file and loaded with process.dlopen.
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: "koffi", namespace: "koffi-embedded" }));
    b.onLoad({ filter: /.*/, namespace: "koffi-embedded" }, () => {
      const lines = Object.entries(KOFFI_BINARIES).map(([arch, [pkg, file]]) =>
        `  ${JSON.stringify(arch)}: () => require(${JSON.stringify(koffiBinary(pkg, file))}),`);
      return {
        resolveDir: root,
        contents: `
const { loadEmbeddedAddon } = require(${JSON.stringify(join(root, "host/tun/embedded-addon.ts"))});
const BINARIES = {
${lines.join("\n")}
};
module.exports = loadEmbeddedAddon("koffi-${koffiVersion}", BINARIES);
`,
      };
    });
    // The status page's script is served, not run: embedded as text like the page and its style.
    b.onLoad({ filter: /host[\\/]web[\\/]assets[\\/][^\\/]+\.js$/ }, (args) => ({ contents: readFileSync(args.path, "utf8"), loader: "text" }));
    // Piscina starts its workers from its own worker.js beside its index.js; in the bundle the
    // bundle itself is that file (host/main.ts runs Piscina's worker code in worker threads).
    b.onLoad({ filter: /piscina[\\/]dist[\\/]index\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace("(0, node_path_1.resolve)(__dirname, 'worker.js')", "__filename"),
      loader: "js",
    }));
  },
};

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  loader: { ".wasm": "binary", ".node": "binary", ".8": "text", ".5": "text", ".html": "text", ".css": "text" },
  plugins: [embedPlugin],
  logLevel: "warning",
  legalComments: "none",
  define: { IPMASQ_BUNDLE: "true" },
};

await build({ ...common, entryPoints: [join(root, "host/main.ts")], outfile: join(root, "dist/ipmasq.js"), banner: { js: "#!/usr/bin/env node" } });
chmodSync(join(root, "dist/ipmasq.js"), 0o755);

if (process.argv.includes("--bench")) {
  for (const name of ["core", "table"]) {
    await build({ ...common, entryPoints: [join(root, `bench/${name}.ts`)], outfile: join(root, `build/bench-${name}.js`) });
  }
}
