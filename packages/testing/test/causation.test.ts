import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as CausationAssert from "../src/CausationAssert.ts"
import * as Fixtures from "../src/Fixtures.ts"

const failure = <E>(effect: Effect.Effect<void, E>) => Effect.flip(effect)

describe("CausationAssert", () => {
  it.effect("assertCausedBy passes for a direct child and explains a mismatch", () =>
    Effect.gen(function*() {
      const [a, b, c] = Fixtures.chain(3)
      yield* CausationAssert.assertCausedBy(b!, a!)
      yield* CausationAssert.assertCausedBy(b!.identity, a!.identity)
      yield* CausationAssert.assertCausedBy({ envelope: c! }, { envelope: b! })
      const error = yield* failure(CausationAssert.assertCausedBy(c!, a!))
      assert.strictEqual(error._tag, "CausationAssertionError")
      assert.include(error.message, `expected Step2 (${Fixtures.id(3)}) to be caused by Step0 (${Fixtures.id(1)})`)
      assert.include(error.message, `its causation id is ${Fixtures.id(2)}`)
      const stranger = Fixtures.event("Other", {}, Fixtures.derived(Fixtures.root(50), 51))
      const other = yield* failure(CausationAssert.assertCausedBy(stranger, a!))
      assert.include(other.message, "correlation id")
    }))

  it.effect("assertSameCorrelation passes for one conversation and names the odd ones", () =>
    Effect.gen(function*() {
      const chain = Fixtures.chain(3)
      yield* CausationAssert.assertSameCorrelation(chain)
      yield* CausationAssert.assertSameCorrelation([])
      const odd = Fixtures.event("Lost", {}, 20)
      const error = yield* failure(CausationAssert.assertSameCorrelation([...chain, odd]))
      assert.include(error.message, `#3 Lost (${Fixtures.id(20)}) has ${Fixtures.id(20)}`)
      assert.include(error.message, `correlation id ${Fixtures.id(1)}`)
    }))

  it.effect("assertCausalChain passes for a chain and reports the first broken link", () =>
    Effect.gen(function*() {
      const [a, b, c, d] = Fixtures.chain(4)
      yield* CausationAssert.assertCausalChain([a!, b!, c!, d!])
      yield* CausationAssert.assertCausalChain([c!, d!])
      yield* CausationAssert.assertCausalChain([])
      const error = yield* failure(CausationAssert.assertCausalChain([a!, b!, d!]))
      assert.include(error.message, "causal chain broken at #2")
      assert.include(error.message, `Step3 (${Fixtures.id(4)})`)
    }))

  it.effect("assertTree compares with the rendered tree, ignoring shared indentation", () =>
    Effect.gen(function*() {
      const envelopes = Fixtures.tree({
        type: "OrderPlaced",
        children: [{ type: "PaymentTaken", children: ["ReceiptSent"] }, "StockReserved"]
      })
      yield* CausationAssert.assertTree(envelopes, `
        OrderPlaced
        ├─ PaymentTaken
        │  └─ ReceiptSent
        └─ StockReserved
      `)
      // Order of the input only changes sibling order.
      yield* CausationAssert.assertTree([envelopes[3]!, envelopes[2]!, envelopes[1]!, envelopes[0]!], `
        OrderPlaced
        ├─ StockReserved
        └─ PaymentTaken
           └─ ReceiptSent
      `)
      yield* CausationAssert.assertTree(envelopes.map((e) => e.identity), [1, 2, 3, 4].map(Fixtures.id).map((id, i) =>
        ["", "├─ ", "│  └─ ", "└─ "][i] + id
      ).join("\n"))
      yield* CausationAssert.assertTree(envelopes, "OrderPlaced!\n├─ PaymentTaken!\n│  └─ ReceiptSent!\n└─ StockReserved!", {
        label: (e) => `${e.type}!`
      })
    }))

  it.effect("assertTree fails with expected and actual drawings, orphans and duplicates", () =>
    Effect.gen(function*() {
      const [placed, paid, receipt] = Fixtures.tree({ type: "OrderPlaced", children: [{ type: "PaymentTaken", children: ["ReceiptSent"] }] })
      const error = yield* failure(CausationAssert.assertTree([placed!, receipt!], `
        OrderPlaced
        └─ ReceiptSent
      `))
      assert.include(error.message, "expected:\nOrderPlaced\n└─ ReceiptSent")
      assert.include(error.message, "actual:\nOrderPlaced\nReceiptSent")
      assert.include(error.message, `orphans (cause not in the set): ReceiptSent (${Fixtures.id(3)})`)
      const dup = yield* failure(CausationAssert.assertTree([placed!, paid!, paid!], "OrderPlaced\n└─ PaymentTaken"))
      assert.include(dup.message, "duplicate messages: PaymentTaken")
    }))
})
