// The plain-TypeScript packet core: same functions as the WASM core, over the same memory.
export { sum, replace16, replace32, sumReplace32 } from "./checksum";
export { validate } from "./ipv4";
export { rewriteEnd, rewriteAddr, adjustTtl, clampMss } from "./rewrite";
export { setTable, hash5, lookupLan, lookupWan } from "./table";
export { processPacket, processBatch } from "./batch";
export { lastReason } from "./verdict";
export { lookup6 } from "./table6";
export { rewriteEnd6 } from "./nat66";
export { bindMemory } from "./memory";
