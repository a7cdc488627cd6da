// Loads a native addon that the bundle carries as bytes (one per CPU architecture): written once
// to a private file named after its content, then process.dlopen'ed. Used for koffi, so the single
// artifact runs on x64, arm64 and armhf boards with nothing beside it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Bytes = Uint8Array | { default: Uint8Array };

export function loadEmbeddedAddon(name: string, binaries: Record<string, () => Bytes>): unknown {
  const get = binaries[process.arch];
  if (!get) throw new Error(`${name}: no prebuilt binary for ${process.platform}-${process.arch} in this build (have: ${Object.keys(binaries).join(", ")})`);
  const raw = get();
  const bytes = raw instanceof Uint8Array ? raw : raw.default;
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), `ipmasq-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${name}-${process.arch}-${digest}.node`);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, bytes, { mode: 0o500 });
    renameSync(tmp, file);
  }
  const mod = { exports: {} as unknown };
  process.dlopen(mod as { exports: object }, file);
  return mod.exports;
}
