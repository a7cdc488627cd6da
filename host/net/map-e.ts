// The MAP calculation (RFC 7597 section 5): from a Basic Mapping Rule and the end-user IPv6
// prefix, the CE's IPv4 address (or prefix), its PSID, the ports it may use and its MAP IPv6
// address; and the other way, the CE that owns an IPv4 address and port (what a BR computes).
//
// A rule is written as the issue and the providers' documents give it:
//   RULE6,RULE4,EA_BITS[,OFFSET],BR[,legacy][,psid=PSID/LEN]
// OFFSET is the PSID offset `a` (RFC 7597's default 6; the legacy format's 4). `legacy` selects
// the interface identifier of draft-ietf-softwire-map-03, which Japan's IPoE providers kept: the
// IPv4 address one byte earlier (bytes 9-12, PSID at 13-14) instead of RFC 7597 section 6's
// (16 zero bits, the IPv4 address at bytes 10-13, the PSID at 14-15). `psid=` gives a PSID the
// provider sends apart (RFC 7597's example 5: no EA bits, the PSID provisioned).
import { formatAddr, parsePrefix, type Prefix } from "./addr";
import { parsePrefix6, formatAddr6, inPrefix6, isAddr6, type Prefix6 } from "./addr6";

export interface MapRule {
  rule6: Prefix6;
  rule4: Prefix;
  eaBits: number; // o
  offset: number; // a
  br: string; // the border relay's IPv6 address
  legacy: boolean;
  psid?: { value: number; bits: number }; // provisioned apart (with no EA bits for it)
}

export interface MapResult {
  ipv4: number; // the CE's IPv4 address (a prefix's first address when it has more than one)
  ipv4Bits: number; // 32, or less: an IPv4 prefix and no port sharing (RFC 7597 5.2)
  psid: number;
  psidBits: number; // k: 0 when the address is not shared
  ranges: Array<[number, number]>; // the port set, first and last of each block
  ports: number; // how many
  ce6: string; // the CE's MAP IPv6 address (its interface identifier from the IPv4 address and PSID)
  endUser: Prefix6; // the end-user prefix the calculation used
  br: string;
}

const EXAMPLE = "2001:db8::/40,192.0.2.0/24,16,6,2001:db8:ffff::1";

// Reads a rule, refusing what cannot be one with the reason.
export function parseMapRule(text: string): MapRule {
  const f = text.split(",").map((s) => s.trim());
  const bad = (why: string): never => {
    throw new Error(`map-e rule "${text}": ${why} (the form is RULE6,RULE4,EA_BITS[,OFFSET],BR, e.g. ${EXAMPLE})`);
  };
  if (f.length < 4) bad("too few fields");
  let rule6: Prefix6, rule4: Prefix;
  try {
    rule6 = parsePrefix6(f[0]);
  } catch (e) {
    return bad(`RULE6 ${f[0]}: ${(e as Error).message}`);
  }
  try {
    rule4 = parsePrefix(f[1]);
  } catch (e) {
    return bad(`RULE4 ${f[1]}: ${(e as Error).message}`);
  }
  if (!f[0].includes("/") || !f[1].includes("/")) bad("both rule prefixes need their length");
  if (!/^\d{1,2}$/.test(f[2]) || Number(f[2]) > 48) bad(`EA_BITS ${f[2]} is not 0..48`);
  const eaBits = Number(f[2]);
  let at = 3;
  let offset: number | undefined;
  if (/^\d{1,2}$/.test(f[at])) {
    offset = Number(f[at++]);
    if (offset > 15) bad(`OFFSET ${offset} is not 0..15`);
  }
  if (f[at] === undefined || !isAddr6(f[at])) bad(`BR ${f[at] ?? "(none)"} is not an IPv6 address`);
  const br = f[at++];
  let legacy = false;
  let psid: MapRule["psid"];
  for (; at < f.length; at++) {
    const m = /^psid=(0x[0-9a-f]+|\d+)\/(\d{1,2})$/i.exec(f[at]);
    if (f[at] === "legacy") legacy = true;
    else if (m) psid = { value: Number(m[1]), bits: Number(m[2]) };
    else bad(`unknown field ${f[at]} (legacy, or psid=PSID/LEN)`);
  }
  offset ??= legacy ? 4 : 6;
  if (rule6.bits + eaBits > 128) bad(`RULE6's /${rule6.bits} and ${eaBits} EA bits pass 128 bits`);
  const suffix = 32 - rule4.bits;
  if (eaBits > suffix + 16) bad(`${eaBits} EA bits: ${suffix} for the IPv4 suffix leaves more than 16 for the PSID`);
  if (psid) {
    if (eaBits > suffix) bad("psid= is for a rule whose EA bits carry no PSID");
    if (psid.bits > 16 || psid.value >= 2 ** psid.bits) bad(`psid=${psid.value}/${psid.bits} does not fit`);
  }
  const k = psid ? psid.bits : Math.max(0, eaBits - suffix);
  if (k > 0 && offset + k > 16) bad(`OFFSET ${offset} and a ${k}-bit PSID pass 16 bits`);
  return { rule6, rule4, eaBits, offset, br, legacy, psid };
}

// The ports of PSID `psid` (k bits) with offset a (RFC 7597 5.1): for each A from 1 (0 when a is
// 0) to 2^a - 1, the block (A << (16 - a)) | (psid << m) with m = 16 - a - k its low bits free.
export function portSet(psid: number, k: number, a: number): Array<[number, number]> {
  if (k === 0) return [[1, 65535]];
  const m = 16 - a - k;
  const out: Array<[number, number]> = [];
  for (let A = a === 0 ? 0 : 1; A < 2 ** a; A++) {
    const first = (A << (16 - a)) | (psid << m);
    const last = first + 2 ** m - 1;
    out.push([Math.max(first, 1), last]);
  }
  return out;
}

// Bits [from, from + n) of a 16-byte address, as a number (n <= 48).
function bitsOf(a: Uint8Array | number[], from: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const bit = from + i;
    v = v * 2 + ((a[bit >> 3] >> (7 - (bit & 7))) & 1);
  }
  return v;
}

// Sets bits [from, from + n) of `a` to `v`.
function setBits(a: Uint8Array, from: number, n: number, v: number): void {
  for (let i = n - 1; i >= 0; i--) {
    const bit = from + i;
    const on = v % 2;
    v = Math.floor(v / 2);
    if (on) a[bit >> 3] |= 0x80 >> (bit & 7);
    else a[bit >> 3] &= ~(0x80 >> (bit & 7));
  }
}

// The CE's MAP IPv6 address: the end-user prefix with subnet 0, then the interface identifier.
function ceAddress(rule: MapRule, endUser: Prefix6, ipv4: number, psid: number): string {
  const a = Uint8Array.from(endUser.bytes);
  const v4 = rule.legacy ? 9 : 10;
  a.set([ipv4 >>> 24, (ipv4 >>> 16) & 255, (ipv4 >>> 8) & 255, ipv4 & 255], v4);
  a[v4 + 4] = psid >> 8;
  a[v4 + 5] = psid & 255;
  return formatAddr6(a);
}

// The CE's values from its end-user prefix (the delegated prefix, or the WAN's /64).
export function mapCalc(rule: MapRule, endUser: Prefix6): MapResult {
  const r6 = rule.rule6.bits,
    o = rule.eaBits;
  if (!inPrefix6(Uint8Array.from(endUser.bytes), rule.rule6))
    throw new Error(
      `the prefix is not in the rule's IPv6 prefix ${formatAddr6(Uint8Array.from(rule.rule6.bytes))}/${r6}`,
    );
  if (endUser.bits < r6 + o)
    throw new Error(`the prefix /${endUser.bits} is shorter than the rule's /${r6} and ${o} EA bits (/${r6 + o})`);
  if (endUser.bits > 64) throw new Error(`the prefix /${endUser.bits} is longer than /64`);
  const ea = bitsOf(endUser.bytes, r6, o);
  const p = 32 - rule.rule4.bits; // IPv4 suffix bits
  const suffixBits = Math.min(p, o);
  const k = rule.psid ? rule.psid.bits : o - suffixBits;
  const psid = rule.psid ? rule.psid.value : ea % 2 ** k;
  const suffix = Math.floor(ea / 2 ** (o - suffixBits)); // the EA bits' first p (or all, when fewer)
  const ipv4Bits = rule.rule4.bits + suffixBits;
  const ipv4 = (rule.rule4.addr + suffix * 2 ** (32 - ipv4Bits)) >>> 0;
  const ranges = portSet(psid, k, rule.offset);
  const ports = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
  const endUserPrefix: Prefix6 = { bytes: [...endUser.bytes], bits: endUser.bits };
  return {
    ipv4,
    ipv4Bits,
    psid,
    psidBits: k,
    ranges,
    ports,
    ce6: ceAddress(rule, endUserPrefix, ipv4, psid),
    endUser: endUserPrefix,
    br: rule.br,
  };
}

// The other way (a BR's, RFC 7597 example 2): the CE that owns IPv4 address `ipv4` and `port`
// under the rule, or undefined when the address is not the rule's or the port in no PSID's set.
export function ceOf(
  rule: MapRule,
  ipv4: number,
  port: number,
): { psid: number; ce6: string; endUser: Prefix6 } | undefined {
  const p = 32 - rule.rule4.bits;
  if (ipv4 >>> p !== rule.rule4.addr >>> p && p < 32) return undefined;
  const o = rule.eaBits;
  const suffixBits = Math.min(p, o);
  const k = rule.psid ? rule.psid.bits : o - suffixBits;
  const m = 16 - rule.offset - k;
  if (k > 0 && rule.offset > 0 && port >>> (16 - rule.offset) === 0) return undefined; // A = 0: nobody's
  const psid = k === 0 ? 0 : (port >>> m) % 2 ** k;
  if (rule.psid && psid !== rule.psid.value) return undefined;
  const suffix = (ipv4 % 2 ** p) >>> (p - suffixBits);
  const ea = rule.psid ? suffix : suffix * 2 ** k + psid;
  const a = Uint8Array.from(rule.rule6.bytes);
  setBits(a, rule.rule6.bits, o, ea);
  const endUser: Prefix6 = { bytes: [...a], bits: rule.rule6.bits + o };
  return { psid, ce6: ceAddress(rule, endUser, ipv4, psid), endUser };
}

// What `ipmasq map-e` prints.
export function formatMapResult(r: MapResult): string {
  const hex = r.psid.toString(16);
  const sets = r.ranges.length > 6 ? [...r.ranges.slice(0, 3), null, ...r.ranges.slice(-2)] : r.ranges;
  return [
    `IPv4 address  ${formatAddr(r.ipv4)}${r.ipv4Bits < 32 ? `/${r.ipv4Bits} (a prefix: no port sharing)` : ""}`,
    `PSID          ${r.psidBits ? `${r.psid} (0x${hex}), ${r.psidBits} bits: the address shared by ${2 ** r.psidBits}` : "none (the address is not shared)"}`,
    `ports         ${r.ports} in ${r.ranges.length} range${r.ranges.length === 1 ? "" : "s"}: ${sets.map((s) => (s ? `${s[0]}-${s[1]}` : "...")).join(", ")}`,
    `CE address    ${r.ce6}`,
    `BR            ${r.br}`,
  ].join("\n");
}

export function mapResultJson(r: MapResult): Record<string, unknown> {
  return {
    ipv4: formatAddr(r.ipv4),
    ipv4PrefixLength: r.ipv4Bits,
    psid: r.psid,
    psidHex: `0x${r.psid.toString(16)}`,
    psidLength: r.psidBits,
    ports: r.ports,
    ranges: r.ranges.map(([a, b]) => `${a}-${b}`),
    ce: r.ce6,
    br: r.br,
  };
}
