// The main table's routes as the workers see them (in the network view): longest prefix first,
// so the first that holds an address is the one the kernel would use.
import { inPrefix } from "./addr";

export interface Route {
  addr: number;
  bits: number;
  dev: string;
}

export function routeDev(routes: Route[], addr: number): string | undefined {
  return routes.find((r) => inPrefix(addr, r))?.dev;
}
