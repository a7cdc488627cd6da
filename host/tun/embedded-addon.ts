// Loads a native addon that the bundle carries as bytes (one per CPU architecture), so that the
// single artifact runs on x64, arm64 and armhf boards with nothing beside it. Used for koffi.
//
// Native code runs as root, so where it is loaded from matters: the bytes are written to a
// directory of ours (host/state/private-files.ts: owned by us, mode 0700, no links) under the
// state directory, by exclusive create, and the file's SHA-256 is checked against the embedded
// bytes before it is loaded. A directory or file that another user could have prepared is refused.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, readPrivateFile, writePrivateFile, defaultStateDir } from "../state/private-files";

type Bytes = Uint8Array | { default: Uint8Array };

// The CLI sets this from --state-dir before anything loads native code; worker threads inherit it.
export const NATIVE_DIR_ENV = "IPMASQ_NATIVE_DIR";
export const nativeDir = (): string => process.env[NATIVE_DIR_ENV] ?? join(defaultStateDir(), "lib");

export function loadEmbeddedAddon(name: string, binaries: Record<string, () => Bytes>): unknown {
  const get = binaries[process.arch];
  if (!get) throw new Error(`${name}: no prebuilt binary for ${process.platform}-${process.arch} in this build (have: ${Object.keys(binaries).join(", ")})`);
  const raw = get();
  const bytes = raw instanceof Uint8Array ? raw : raw.default;
  const digest = createHash("sha256").update(bytes).digest("hex");
  const dir = nativeDir();
  ensurePrivateDir(dir);
  const file = join(dir, `${name}-${process.arch}-${digest.slice(0, 16)}.node`);
  if (!existsSync(file)) writePrivateFile(file, bytes, 0o500);
  const found = createHash("sha256").update(readPrivateFile(file)).digest("hex");
  if (found !== digest) throw new Error(`refusing to load ${file}: its SHA-256 is ${found.slice(0, 16)}…, not that of the ${name} this program carries (remove the file; it is written again)`);
  const mod = { exports: {} as unknown };
  process.dlopen(mod as { exports: object }, file);
  return mod.exports;
}
