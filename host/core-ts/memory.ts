// The TypeScript core's view of the shared memory: the same bytes the WASM core sees.
// Loads named `le*` read in memory order (little-endian, like WASM `load`); `be*` read wire order.
export const mem = {
  u8: new Uint8Array(0) as Uint8Array<ArrayBufferLike>,
  dv: new DataView(new ArrayBuffer(0)) as DataView<ArrayBufferLike>,
};

export function bindMemory(buffer: ArrayBufferLike): void {
  mem.u8 = new Uint8Array(buffer);
  mem.dv = new DataView(buffer);
}

export const le16 = (p: number): number => mem.dv.getUint16(p, true);
export const le32 = (p: number): number => mem.dv.getUint32(p, true);
export const be16 = (p: number): number => mem.dv.getUint16(p, false);
export const be32 = (p: number): number => mem.dv.getUint32(p, false);
export const setLe16 = (p: number, v: number): void => mem.dv.setUint16(p, v, true);
export const setLe32 = (p: number, v: number): void => mem.dv.setUint32(p, v, true);
export const setBe16 = (p: number, v: number): void => mem.dv.setUint16(p, v, false);
export const setBe32 = (p: number, v: number): void => mem.dv.setUint32(p, v, false);
// IPv4 addresses are kept as int32, the same 32 bits: V8 holds those unboxed, while a uint32
// above 2^31 passed between functions becomes a heap number (garbage on every packet).
export const leAddr = (p: number): number => mem.dv.getInt32(p, true);
export const beAddr = (p: number): number => mem.dv.getInt32(p, false);
export const bswap32 = (v: number): number =>
  ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
export const bswap16 = (v: number): number => ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
