// Deterministic test data: N bytes from a seeded generator, streamed in 64 KiB chunks.
// Shared by the peers (inside the namespaces) and the tests (to know the expected digest).
const { createHash } = require("node:crypto");

function* chunks(n, seed) {
  let x = seed >>> 0 || 1;
  const CH = 65536;
  for (let left = n; left > 0; left -= CH) {
    const len = Math.min(CH, left);
    const b = Buffer.allocUnsafe(len);
    for (let i = 0; i + 4 <= len; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    for (let i = len & ~3; i < len; i++) b[i] = i & 255;
    yield b;
  }
}

function sha256Of(n, seed) {
  const h = createHash("sha256");
  for (const c of chunks(n, seed)) h.update(c);
  return h.digest("hex");
}

module.exports = { chunks, sha256Of };
