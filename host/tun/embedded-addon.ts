// Loads a native addon that the bundle carries (one per CPU architecture, compressed), so that the
// single artifact runs on x64, arm64 and armhf boards with nothing beside it. Used for koffi.
//
// Native code runs as root, so where it is loaded from matters: the bytes are written to a
// directory of ours (host/state/private-files.ts: owned by us, mode 0700, no links) under the
// state directory, by exclusive create, and the file's SHA-256 is checked against the digest
// recorded at build time before it is loaded. A directory or file that another user could have
// prepared is refused. The worker threads' program carries only the digests: it loads the file
// the main thread wrote before it started them.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { ensurePrivateDir, readPrivateFile, writePrivateFile, defaultStateDir } from "../state/private-files";

export interface EmbeddedBinary {
  sha256: string; // hex, of the uncompressed file
  brotli?: () => string; // base64 of the brotli-compressed file; absent in the worker threads' program
}

// The CLI sets this from --state-dir before anything loads native code; worker threads inherit it.
export const NATIVE_DIR_ENV = "IPMASQ_NATIVE_DIR";
export const nativeDir = (): string => process.env[NATIVE_DIR_ENV] ?? join(defaultStateDir(), "lib");

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export function loadEmbeddedAddon(name: string, binaries: Record<string, EmbeddedBinary>): unknown {
  const binary = binaries[process.arch];
  if (!binary)
    throw new Error(
      `${name}: no prebuilt binary for ${process.platform}-${process.arch} in this build (have: ${Object.keys(binaries).join(", ")})`,
    );
  const dir = nativeDir();
  ensurePrivateDir(dir);
  const file = join(dir, `${name}-${process.arch}-${binary.sha256.slice(0, 16)}.node`);
  if (!existsSync(file)) {
    if (!binary.brotli) throw new Error(`${file} is missing: the main thread writes it before it starts the workers`);
    const bytes = brotliDecompressSync(Buffer.from(binary.brotli(), "base64"));
    if (sha256(bytes) !== binary.sha256)
      throw new Error(
        `${name}: the binary this program carries is damaged (its SHA-256 is not the one recorded when it was built)`,
      );
    writePrivateFile(file, bytes, 0o500);
  }
  const found = sha256(readPrivateFile(file));
  if (found !== binary.sha256)
    throw new Error(
      `refusing to load ${file}: its SHA-256 is ${found.slice(0, 16)}…, not that of the ${name} this program carries (remove the file; it is written again)`,
    );
  const mod = { exports: {} as unknown };
  process.dlopen(mod as { exports: object }, file);
  return mod.exports;
}
