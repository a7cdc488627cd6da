// WASM core vs TS core on random and mutated packets (CI count below; `npm run fuzz -- --count N`
// runs any number).
import t from "tap";
import { runDifferential } from "../harness/differential";

const COUNT = Number(process.env.DIFF_COUNT ?? 1_000_000);

t.test(`${COUNT} random and mutated packets`, async (t) => {
  const r = runDifferential(COUNT, 0xc0ffee);
  t.equal(r.packets, COUNT);
  t.same(r.mismatches, [], "WASM and TS give identical verdicts and bytes");
  t.same(r.badChecksums, [], "every translated packet verifies by full recomputation");
  t.same(r.badTranslations, [], "every translated packet of a known flow carries the flow's addresses and ports");
  t.ok(r.translationsChecked > COUNT / 10, `(${r.translationsChecked} translations checked against the flow list)`);
  t.ok(r.verdicts.forward > COUNT / 10, `many packets translated (${JSON.stringify(r.verdicts)})`);
  t.ok(r.verdicts.drop > COUNT / 20, "many packets dropped as malformed");
  t.ok(r.verdicts.slow > COUNT / 50, "some packets sent to the slow path");
});
