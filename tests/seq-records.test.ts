// The FTP helpers' sequence records (host/table/seq-records.ts) live as long as their control
// connection: an ended one's shift is not inherited by the next connection given its entry, and
// the records do not fill up over a long run of FTP sessions (both were so: nothing let a record
// go, and 1024 shifted sessions later no session was shifted any more). IPv6 (NAT66) the same.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { AlgState } from "../host/table/alg-state";
import { SeqRecords, SEQ_KEY6 } from "../host/table/seq-records";
import { parseAddr } from "../host/net/addr";
import { parseAddr6 } from "../host/net/addr6";
import * as L from "../assembly/layout";

const LAN = parseAddr("192.168.0.2"),
  SERVER = parseAddr("10.0.0.2"),
  WAN = parseAddr("10.0.0.1");

t.test("IPv4: a shift goes with its connection; 3000 sessions never fill the records", async (t) => {
  const s = coreSetup(16); // a small table: entries come back soon
  const tb = s.table;
  const alg = new AlgState(tb, tb.map.alg);
  const seq = new SeqRecords(tb.dv, tb.map.alg);
  tb.now = 1;
  let stale = 0,
    unshifted = 0;
  for (let n = 0; n < 3000; n++) {
    tb.now += 3; // past the 2 s a freed entry rests
    const i = tb.createFlow(L.PROTO_TCP, LAN, 40000 + (n % 20000), SERVER, 21, WAN, L.TS_SYN_OUT, { alg: true });
    if (alg.offset(i).after !== 0) stale++;
    alg.shift(i, 1000 + n, 7); // a PORT command grew by 7 bytes
    if (alg.offset(i).after !== 7) unshifted++;
    tb.removeFlow(i, "closed");
  }
  t.equal(stale, 0, "no connection began with an earlier one's shift");
  t.equal(unshifted, 0, "every connection's shift was recorded, the 3000th too");
  t.equal(seq.used(), 0, "and none is left once they all ended");
});

t.test("IPv6 (NAT66 FTP): the same under its own keys", async (t) => {
  const s = coreSetup(16);
  const v6 = s.table.v6;
  const seq = new SeqRecords(s.table.dv, s.table.map.alg);
  s.table.now = 1;
  v6.masqAddress = parseAddr6("2001:db8:ff::1");
  const i = v6.create(
    L.PROTO_TCP,
    parseAddr6("fd00:1::2"),
    40000,
    parseAddr6("2001:db8:ff::2"),
    21,
    L.TS_SYN_OUT | L.ES_ALG,
    {},
  );
  seq.shift(SEQ_KEY6 + i, 5000, 12);
  t.equal(seq.offset(SEQ_KEY6 + i).after, 12, "shifted");
  t.equal(seq.offset(i).after, 0, "an IPv4 entry of the same index is not");
  v6.remove(i, "closed");
  t.equal(seq.offset(SEQ_KEY6 + i).after, 0, "gone with its connection");
});
