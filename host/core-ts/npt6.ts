// NPTv6 in the IPv6 fast path: the TypeScript twin of assembly/npt6.ts, over the mappings the
// table header holds and host/net/npt6.ts's address mapping.
import { mem } from "./memory";
import { type Npt6, readNpt6, npt6FromWan as fromWan, npt6Out as out, npt6Inside as inside } from "../net/npt6";

export { NPT_REFUSED } from "../net/npt6";

let mappings: Npt6[] = [];
export const npt6Count = (): number => mappings.length;

export function setNpt6(tableBase: number): void {
  mappings = readNpt6(mem.dv, mem.u8, tableBase);
}

export const npt6FromWan = (a: number): number => fromWan(mappings, mem.u8, a);
export const npt6Out = (a: number): number => out(mappings, mem.u8, a);
export const npt6Inside = (a: number): boolean => inside(mappings, mem.u8, a);
