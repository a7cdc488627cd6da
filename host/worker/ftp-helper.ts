// The FTP helper (the seed's ip_masq_ftp): FTP names addresses inside its control connection.
//  - A LAN client's PORT / EPRT names its private address: rewritten to the public address and a
//    public port that now expects the server's data connection.
//  - A LAN server's (behind a port forward) 227 / 229 passive replies: rewritten likewise.
// A rewrite can change the length of the LAN side's byte stream; sequence numbers after it
// (outbound) and acknowledgements (inbound) are shifted to match, for the whole connection.
import * as L from "../../assembly/layout";
import type { Core } from "../core/core";
import type { AlgState } from "../table/alg-state";
import { shiftedSeq, originalAck, alreadyShifted } from "../table/seq-records";
import type { ConnTable } from "../table/conntrack";
import { formatAddr } from "../net/addr";
import {
  parseIpv4,
  IPV4_TOTAL_LENGTH,
  IPV4_CHECKSUM,
  IPV4_SRC,
  TCP_SRC_PORT,
  TCP_DST_PORT,
  TCP_SEQ,
  TCP_ACK_SEQ,
  TCP_DATA_OFFSET,
  TCP_CHECKSUM,
} from "../net/wire";

export const FTP_PORT = 21;

interface Rewrite {
  text: string;
  dataPort: number;
  render: (addr: number, port: number) => string;
}

// Finds an address-bearing command (client side) or reply (server side) at the start of a payload.
export function findRewrite(payload: string, serverSide: boolean): Rewrite | undefined {
  if (!serverSide) {
    let m = /^PORT\s+(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\r?\n/i.exec(payload);
    if (m)
      return {
        text: m[0],
        dataPort: Number(m[5]) * 256 + Number(m[6]),
        render: (a, p) => `PORT ${formatAddr(a).replace(/\./g, ",")},${p >> 8},${p & 255}\r\n`,
      };
    m = /^EPRT\s+\|1\|([\d.]+)\|(\d+)\|\r?\n/i.exec(payload);
    if (m) return { text: m[0], dataPort: Number(m[2]), render: (a, p) => `EPRT |1|${formatAddr(a)}|${p}|\r\n` };
    return undefined;
  }
  let m = /^227 [^\r\n]*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)[^\r\n]*\r?\n/.exec(payload);
  if (m) {
    const whole = m[0],
      nums = m.slice(1, 7).join(",");
    return {
      text: whole,
      dataPort: Number(m[5]) * 256 + Number(m[6]),
      render: (a, p) => whole.replace(nums, `${formatAddr(a).replace(/\./g, ",")},${p >> 8},${p & 255}`),
    };
  }
  m = /^229 [^\r\n]*\(\|\|\|(\d+)\|\)[^\r\n]*\r?\n/.exec(payload);
  if (m) {
    const whole = m[0];
    return { text: whole, dataPort: Number(m[1]), render: (_a, p) => whole.replace(`|||${m![1]}|`, `|||${p}|`) };
  }
  return undefined;
}

export class FtpHelper {
  private readonly u8: Uint8Array;
  private readonly dv: DataView;

  constructor(
    private readonly core: Core,
    private readonly table: ConnTable,
    private readonly alg: AlgState,
    memory: WebAssembly.Memory,
    public publicAddr: number,
  ) {
    this.u8 = new Uint8Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
  }

  // `vnet`: an already translated packet of an FTP control connection. Returns its new length.
  process(vnet: number, n: number): number {
    const u8 = this.u8,
      dv = this.dv;
    const ip = vnet + L.VNET_HDR_LEN;
    const { ihl, totalLength: total, src, dst } = parseIpv4(u8, dv, ip);
    const l4 = ip + ihl;
    const doff = (u8[l4 + TCP_DATA_OFFSET] >> 4) * 4;
    const sport = dv.getUint16(l4 + TCP_SRC_PORT),
      dport = dv.getUint16(l4 + TCP_DST_PORT);
    const outbound = src === this.publicAddr;
    const entry = outbound
      ? this.core.lookupWan(L.PROTO_TCP, dst, dport, src, sport)
      : this.core.lookupLan(L.PROTO_TCP, dst, dport, src, sport);
    if (entry < 0) return n;
    const off = this.alg.offset(entry);
    let length = total;
    if (outbound) {
      const seq = dv.getUint32(l4 + TCP_SEQ);
      dv.setUint32(l4 + TCP_SEQ, shiftedSeq(seq, off));
      const payloadLen = total - ihl - doff;
      const payload = Buffer.from(u8.subarray(l4 + doff, l4 + doff + payloadLen)).toString("latin1");
      const flow = this.table.flow(entry);
      const rw = payloadLen > 0 ? findRewrite(payload, flow.fixed) : undefined;
      if (rw) {
        const port = this.alg.expect(L.PROTO_TCP, flow.lanAddr, rw.dataPort, flow.remoteAddr, rw.dataPort);
        if (port >= 0) {
          const text = rw.render(this.publicAddr, port) + payload.slice(rw.text.length);
          const growth = text.length - payloadLen;
          const end = (seq + payloadLen) >>> 0;
          if (growth !== 0 && !alreadyShifted(off, end, growth)) this.alg.shift(entry, end, growth);
          u8.set(Buffer.from(text, "latin1"), l4 + doff);
          length = total + growth;
          dv.setUint16(ip + IPV4_TOTAL_LENGTH, length);
        }
      }
    } else if (off.boundary !== 0 || off.after !== 0) {
      dv.setUint32(l4 + TCP_ACK_SEQ, originalAck(dv.getUint32(l4 + TCP_ACK_SEQ), off));
    }
    this.reseal(vnet, ip, ihl, length);
    return L.VNET_HDR_LEN + length;
  }

  // Full checksums (the payload changed), and no offload left to the kernel for this packet.
  private reseal(vnet: number, ip: number, ihl: number, length: number): void {
    const u8 = this.u8,
      dv = this.dv;
    u8.fill(0, vnet, vnet + L.VNET_HDR_LEN);
    dv.setUint16(ip + IPV4_CHECKSUM, 0);
    dv.setUint16(ip + IPV4_CHECKSUM, ~this.core.sum(ip, ihl, 0) & 0xffff, true);
    const l4 = ip + ihl,
      l4len = length - ihl;
    dv.setUint16(l4 + TCP_CHECKSUM, 0);
    // pseudo-header: source and destination addresses, protocol, TCP length (summed in memory
    // order, like the core)
    const pseudo =
      this.core.sum(ip + IPV4_SRC, 8, 0) + ((L.PROTO_TCP << 8) | 0) + (((l4len & 255) << 8) | (l4len >> 8));
    dv.setUint16(l4 + TCP_CHECKSUM, ~this.core.sum(l4, l4len, pseudo) & 0xffff, true);
  }
}
