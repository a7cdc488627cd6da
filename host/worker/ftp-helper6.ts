// The FTP helper for NAT66 (ftp-helper.ts is IPv4's): a LAN client's EPRT (RFC 2428) names its
// inside address and port; it is rewritten to the masquerade address and a public port held for
// that LAN port, which lets the server's data connection in for EXPECT_SECONDS (a PCP-style pinhole
// of pinholes6.ts: the public port is the LAN end's while it lasts). The rewrite can change the
// length of the client's byte stream: sequence numbers after it (outbound) and acknowledgements
// (inbound) are shifted, kept as the IPv4 helper keeps them (alg-state.ts), under a key of their
// own. Passive mode (EPSV) names no address and needs nothing. The packet reaching here has been
// translated by the core.
import * as L from "../../assembly/layout";
import * as W from "../../assembly/wire";
import type { Core } from "../core/core";
import { type AlgState, EXPECT_SECONDS } from "../table/alg-state";
import type { Flows6 } from "../table/flows6";
import type { Pinholes6 } from "../table/pinholes6";
import { formatAddr6, parseAddr6 } from "../net/addr6";
import { SEQ_KEY6, shiftedSeq, originalAck, alreadyShifted } from "../table/seq-records";

export class FtpHelper6 {
  constructor(
    private readonly core: Core,
    private readonly flows: Flows6,
    private readonly pinholes: Pinholes6,
    private readonly alg: AlgState,
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
  ) {}

  // `vnet`: a translated packet of a NAT66 FTP control connection. Returns its new length.
  process(vnet: number, n: number): number {
    const u8 = this.u8,
      dv = this.dv;
    const ip = vnet + L.VNET_HDR_LEN;
    if (u8[ip + W.IPV6_NEXT_HEADER] !== L.PROTO_TCP) return n; // extension headers: left as they are
    const l4 = ip + W.IPV6_HEADER;
    const total = W.IPV6_HEADER + dv.getUint16(ip + W.IPV6_PAYLOAD_LENGTH);
    const doff = (u8[l4 + W.TCP_DATA_OFFSET] >> 4) * 4;
    const src = u8.slice(ip + W.IPV6_SRC, ip + W.IPV6_SRC + 16),
      dst = u8.slice(ip + W.IPV6_DST, ip + W.IPV6_DST + 16);
    const sport = dv.getUint16(l4 + W.TCP_SRC_PORT),
      dport = dv.getUint16(l4 + W.TCP_DST_PORT);
    const masq = this.flows.masqAddress;
    if (!masq) return n;
    const outbound = masq.every((b, i) => b === src[i]);
    const entry = outbound
      ? this.flows.findWan(L.PROTO_TCP, sport, dst, dport)
      : this.flows.find(L.PROTO_TCP, dst, dport, src, sport);
    if (entry < 0) return n;
    const key = SEQ_KEY6 + entry;
    const off = this.alg.offset(key);
    let length = total;
    if (outbound) {
      const seq = dv.getUint32(l4 + W.TCP_SEQ);
      dv.setUint32(l4 + W.TCP_SEQ, shiftedSeq(seq, off));
      const payloadLen = total - W.IPV6_HEADER - doff;
      const payload = Buffer.from(u8.subarray(l4 + doff, l4 + doff + payloadLen)).toString("latin1");
      const m = /^EPRT\s+\|2\|([0-9a-f:.]+)\|(\d+)\|\r?\n/i.exec(payload);
      const flow = this.flows.flow(entry);
      const dataPort = m ? Number(m[2]) : 0;
      if (m && dataPort > 0 && dataPort < 65536 && m[1].toLowerCase() === flow.lanAddr) {
        const lan = parseAddr6(flow.lanAddr);
        // the same port named again (a retried EPRT) renews what it holds
        const had = this.pinholes.get(L.PROTO_TCP, lan, dataPort)?.wanPort ?? 0;
        const port = had || this.flows.holdMapping(L.PROTO_TCP, lan, dataPort, dataPort);
        if (port >= 0 && this.pinholes.open(L.PROTO_TCP, lan, dataPort, EXPECT_SECONDS, port)) {
          const text = `EPRT |2|${formatAddr6(masq)}|${port}|\r\n${payload.slice(m[0].length)}`;
          const growth = text.length - payloadLen;
          const end = (seq + payloadLen) >>> 0;
          if (growth !== 0 && !alreadyShifted(off, end, growth)) this.alg.shift(key, end, growth);
          u8.set(Buffer.from(text, "latin1"), l4 + doff);
          length = total + growth;
          dv.setUint16(ip + W.IPV6_PAYLOAD_LENGTH, length - W.IPV6_HEADER);
        } else if (port >= 0 && !had) this.flows.releaseMapping(L.PROTO_TCP, lan, dataPort);
      }
    } else if (off.boundary !== 0 || off.after !== 0) {
      dv.setUint32(l4 + W.TCP_ACK_SEQ, originalAck(dv.getUint32(l4 + W.TCP_ACK_SEQ), off));
    }
    this.reseal(vnet, ip, length);
    return L.VNET_HDR_LEN + length;
  }

  // The TCP checksum in full (the payload changed), and no offload left to the kernel.
  private reseal(vnet: number, ip: number, length: number): void {
    const u8 = this.u8,
      dv = this.dv;
    u8.fill(0, vnet, ip);
    const l4 = ip + W.IPV6_HEADER,
      l4len = length - W.IPV6_HEADER;
    dv.setUint16(l4 + W.TCP_CHECKSUM, 0);
    // pseudo-header (RFC 8200 8.1): both addresses, the length, next header; in memory order
    const pseudo = this.core.sum(ip + W.IPV6_SRC, 32, 0) + (((l4len & 255) << 8) | (l4len >> 8)) + (L.PROTO_TCP << 8);
    dv.setUint16(l4 + W.TCP_CHECKSUM, ~this.core.sum(l4, l4len, pseudo) & 0xffff, true);
  }
}
