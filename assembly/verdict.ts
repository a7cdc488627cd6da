// A packet's verdict (V_*) and its reason: the reason (R_*) of a drop or a slow-path verdict, or
// for V_FORWARD the entry index + 1. The descriptor's D_REASON, and lastReason() for
// single-packet callers.
import { V_FORWARD, V_DROP, V_SLOW } from "./layout";

let verdictReason: u32 = 0;

@inline export function drop(reason: u32): u32 { verdictReason = reason; return V_DROP; }
@inline export function slow(reason: u32): u32 { verdictReason = reason; return V_SLOW; }
@inline export function forward(entry: i32): u32 { verdictReason = <u32>(entry + 1); return V_FORWARD; }

export function lastReason(): u32 { return verdictReason; }
