// One packet-core API, two implementations: the AssemblyScript/WASM core and its plain-TypeScript
// twin. Both work over the same shared WebAssembly.Memory and give byte-identical results.
import wasmBytes from "./wasm-bytes";
import * as ts from "../core-ts/index";
import { MEMORY_MAX_PAGES } from "../../assembly/layout";

export type CoreKind = "wasm" | "ts";

export interface Core {
  kind: CoreKind;
  sum(ptr: number, len: number, initial: number): number;
  replace16(check: number, old: number, now: number): number;
  replace32(check: number, old: number, now: number): number;
  sumReplace32(partial: number, old: number, now: number): number;
  validate(ip: number, len: number, checkTtl: boolean): number;
  rewriteEnd(
    ip: number,
    l4: number,
    l4Avail: number,
    proto: number,
    end: number,
    addr: number,
    port: number,
    partial: boolean,
  ): void;
  rewriteAddr(ip: number, end: number, addr: number): void;
  // NAT66's: one end of an IPv6 packet, the address the 16 bytes at memory address `addr`
  rewriteEnd6(
    ip: number,
    l4: number,
    l4Avail: number,
    proto: number,
    end: number,
    addr: number,
    port: number,
    partial: boolean,
  ): void;
  adjustTtl(ip: number, delta: number): void;
  clampMss(l4: number, mss: number, partial: boolean): boolean;
  setTable(base: number): void;
  hash5(domain: number, proto: number, a1: number, p1: number, a2: number, p2: number, seed: number): number;
  lookupLan(proto: number, lanAddr: number, lanPort: number, remoteAddr: number, remotePort: number): number;
  lookupWan(proto: number, remoteAddr: number, remotePort: number, wanAddr: number, wanPort: number): number;
  processPacket(vnet: number, n: number, stats: number, ingress: number): number; // ingress: L.IN_*
  processBatch(desc: number, n: number, stats: number, ingress: number): number;
  lastReason(): number;
}

export function createMemory(pages: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum: MEMORY_MAX_PAGES, shared: true });
}

let compiled: WebAssembly.Module | undefined;
export function wasmModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(wasmBytes);
  return compiled;
}

// WASM returns u32 results as signed i32: normalise those that are unsigned on the TS side.
const U32_RESULTS = ["sum", "replace16", "replace32", "sumReplace32", "validate", "hash5", "processPacket"] as const;

export function createCore(kind: CoreKind, memory: WebAssembly.Memory, module?: WebAssembly.Module): Core {
  if (kind === "ts") {
    ts.bindMemory(memory.buffer);
    return { kind, ...ts };
  }
  const instance = new WebAssembly.Instance(module ?? wasmModule(), {
    env: {
      memory,
      abort: () => {
        throw new Error("wasm core abort");
      },
    },
  });
  const x = instance.exports as Record<string, (...a: number[]) => number>;
  const core: Record<string, unknown> = { kind };
  for (const [name, fn] of Object.entries(x)) {
    if (typeof fn !== "function") continue;
    core[name] = (U32_RESULTS as readonly string[]).includes(name) ? (...a: number[]) => fn(...a) >>> 0 : fn;
  }
  // booleans cross as 0/1
  const clamp = x.clampMss;
  core.clampMss = (l4: number, mss: number, partial: boolean) => clamp(l4, mss, partial ? 1 : 0) !== 0;
  const validate = x.validate;
  core.validate = (ip: number, len: number, checkTtl: boolean) => validate(ip, len, checkTtl ? 1 : 0) >>> 0;
  const rewriteEnd = x.rewriteEnd;
  core.rewriteEnd = (
    ip: number,
    l4: number,
    av: number,
    p: number,
    e: number,
    a: number,
    port: number,
    partial: boolean,
  ) => rewriteEnd(ip, l4, av, p, e, a, port, partial ? 1 : 0);
  const rewriteEnd6 = x.rewriteEnd6;
  core.rewriteEnd6 = (
    ip: number,
    l4: number,
    av: number,
    p: number,
    e: number,
    a: number,
    port: number,
    partial: boolean,
  ) => rewriteEnd6(ip, l4, av, p, e, a, port, partial ? 1 : 0);
  return core as unknown as Core;
}
