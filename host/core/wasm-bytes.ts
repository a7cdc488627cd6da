// The compiled WASM core. In the bundle this module is replaced by the embedded bytes (build.mjs);
// when running from source it is read from the build folder.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export default new Uint8Array(readFileSync(join(__dirname, "..", "..", "build", "core.wasm")));
