// A packet's verdict and its reason: the TypeScript twin of assembly/verdict.ts.
import * as L from "../../assembly/layout";

let verdictReason = 0;
export const drop = (reason: number): number => {
  verdictReason = reason;
  return L.V_DROP;
};
export const slow = (reason: number): number => {
  verdictReason = reason;
  return L.V_SLOW;
};
export const forward = (entry: number): number => {
  verdictReason = entry + 1;
  return L.V_FORWARD;
};
export const lastReason = (): number => verdictReason;
