// Where a key's probe starts in an index of `slots` slots: the hash's top 30 bits scaled to the
// index (as the WASM core does it); below 2^23 slots the product is below 2^53, exact in a double.
// Both tables' lookups and the host's writers use it.
export const homeSlot = (h: number, slots: number): number => Math.floor(((h >>> 2) * slots) / 1073741824);
