import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Holdings } from "../../src/server/holdings.js";

describe("Holdings", () => {
  it("agrees with a plain list per holder: counts, the largest holder, the oldest item", () => {
    const op = fc.record({ add: fc.boolean(), holder: fc.constantFrom("a", "b", "c", "d"), item: fc.integer({ min: 0, max: 15 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const holdings = new Holdings<number>();
        const model = new Map<string, number[]>();
        for (const { add, holder, item } of ops) {
          const list = model.get(holder) ?? [];
          if (add) {
            holdings.add(holder, item);
            if (!list.includes(item)) list.push(item);
          } else {
            const had = list.includes(item);
            assert.equal(holdings.remove(holder, item), had);
            if (had) list.splice(list.indexOf(item), 1);
          }
          model.set(holder, list);
          const sizes = [...model.values()].map((l) => l.length);
          const most = Math.max(0, ...sizes);
          assert.equal(holdings.size, sizes.reduce((a, b) => a + b, 0));
          const largest = holdings.largest();
          if (most === 0) assert.equal(largest, undefined);
          else {
            assert.ok(largest !== undefined && model.get(largest)!.length === most, `largest ${largest} holds the most (${most})`);
            assert.equal(holdings.oldestOf(largest), model.get(largest)![0]);
          }
          for (const [h, l] of model) assert.equal(holdings.countOf(h), l.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("forgets a holder that holds nothing", () => {
    const holdings = new Holdings<string>();
    holdings.add("10.0.0.1", "s1");
    holdings.remove("10.0.0.1", "s1");
    const inside = holdings as unknown as { itemsOf: Map<string, unknown>; bySize: Map<number, unknown> };
    assert.equal(inside.itemsOf.size, 0);
    assert.equal(inside.bySize.size, 0);
    assert.equal(holdings.largest(), undefined);
  });
});
