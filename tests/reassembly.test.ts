// Always defragment: reassembly in any order, overlaps refused, memory/count/time bounded.
import t from "tap";
import { Reassembler, MAX_DATAGRAMS, TIMEOUT_SECONDS } from "../host/worker/reassembly";
import { ipv4, udp, checksum } from "../harness/packets";

const whole = ipv4(
  { src: "192.168.0.2", dst: "10.0.0.2", proto: 17, id: 77 },
  udp(
    "192.168.0.2",
    "10.0.0.2",
    40000,
    53,
    new Uint8Array(3000).map((_, i) => i * 13),
  ),
);

// Cuts a datagram into fragments of `size` payload bytes (a multiple of 8).
function fragments(pkt: Uint8Array, size: number, id = 77): Uint8Array[] {
  const data = pkt.subarray(20);
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += size) {
    const part = data.subarray(off, off + size);
    const more = off + size < data.length;
    out.push(ipv4({ src: "192.168.0.2", dst: "10.0.0.2", proto: 17, id, frag: (more ? 0x2000 : 0) | (off / 8) }, part));
  }
  return out;
}

t.test("in order and out of order give the original datagram", async (t) => {
  for (const order of [
    [0, 1, 2, 3],
    [3, 1, 0, 2],
    [2, 3, 1, 0],
  ]) {
    const r = new Reassembler();
    const f = fragments(whole, 800);
    let last: ReturnType<Reassembler["add"]> | undefined;
    for (const i of order) last = r.add(f[i], 1);
    t.equal(last!.kind, "complete", `order ${order}`);
    if (last!.kind === "complete") {
      t.same(Buffer.from(last!.datagram), Buffer.from(whole), "byte-identical, header checksum right");
      t.equal(checksum(last!.datagram, 0, 20), 0xffff);
    }
    t.equal(r.datagrams, 0, "nothing left behind");
  }
});

t.test("overlapping fragments drop the datagram", async (t) => {
  const r = new Reassembler();
  const f = fragments(whole, 800);
  t.equal(r.add(f[0], 1).kind, "held");
  const evil = ipv4({ src: "192.168.0.2", dst: "10.0.0.2", proto: 17, id: 77, frag: 0x2000 | 96 }, new Uint8Array(16)); // offset 768, inside fragment 0
  t.same(r.add(evil, 1), { kind: "refused", why: "overlap" });
  t.equal(r.datagrams, 0, "the datagram is gone");
  t.equal(r.bytesHeld, 0, "and its memory");
});

t.test("bounded in count, and in time", async (t) => {
  const r = new Reassembler();
  for (let id = 0; id < MAX_DATAGRAMS; id++) t.equal(r.add(fragments(whole, 800, id)[0], 1).kind, "held");
  t.same(
    r.add(fragments(whole, 800, 999)[0], 1),
    { kind: "refused", why: "limit" },
    "one datagram too many is refused",
  );
  t.equal(
    r.add(fragments(whole, 800, 1000)[0], 1 + TIMEOUT_SECONDS).kind,
    "held",
    "after the timeout the old ones are gone",
  );
  t.equal(r.datagrams, 1);
  t.equal(r.expired, MAX_DATAGRAMS);
});
