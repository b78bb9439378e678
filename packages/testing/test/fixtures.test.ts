import { CausationTree, IdGenerator, MessageIdentity } from "@herald/identity"
import { Message, Wire } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Fixtures from "../src/Fixtures.ts"

describe("Fixtures", () => {
  it("envelope: a root event with id 1 at the epoch and a JSON body", () => {
    const e = Fixtures.envelope()
    assert.strictEqual(e.identity.messageId, "00000000-0000-7000-8000-000000000001")
    assert.isTrue(MessageIdentity.isRoot(e.identity))
    assert.strictEqual(e.type, Fixtures.defaultType)
    assert.strictEqual(e.kind, "event")
    assert.strictEqual(e.occurredAt, Date.parse("2024-01-01T00:00:00.000Z"))
    assert.strictEqual(e.contentType, "application/json")
    assert.deepStrictEqual(e.headers, {})
    assert.deepStrictEqual(Fixtures.json(e), {})
  })

  it("envelope: overrides, payload, identity by number", () => {
    const e = Fixtures.envelope({ identity: 7, type: "T", kind: "command", payload: { a: 1 }, headers: { traceparent: "x" } })
    assert.strictEqual(e.identity.messageId, Fixtures.id(7))
    assert.strictEqual(e.type, "T")
    assert.strictEqual(e.kind, "command")
    assert.deepStrictEqual(Fixtures.json(e), { a: 1 })
    assert.deepStrictEqual(e.headers, { traceparent: "x" })
    const body = new Uint8Array([1, 2, 3])
    assert.deepStrictEqual(Fixtures.envelope({ body, payload: { ignored: true } }).body, body)
  })

  it("event: the payload decodes with its Message definition", () =>
    Effect.runSync(Effect.gen(function*() {
      const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String }))
      const e = Fixtures.event("OrderPlaced", { orderId: "o-1" }, 3)
      assert.strictEqual(e.identity.messageId, Fixtures.id(3))
      assert.deepStrictEqual(yield* OrderPlaced.decode(e), { orderId: "o-1" })
      const parent = Fixtures.event("A", {})
      const child = Fixtures.event("B", {}, Fixtures.derived(parent, 2))
      assert.isTrue(MessageIdentity.isCausedBy(child.identity, parent.identity))
    })))

  it("ids are the ones IdGenerator.layerTest mints", () => {
    const minted = Effect.runSync(
      Effect.provide(Effect.all([IdGenerator.next, IdGenerator.next]), IdGenerator.layerTest)
    )
    assert.deepStrictEqual(minted, [Fixtures.id(1), Fixtures.id(2)])
    assert.deepStrictEqual(Fixtures.root(1), MessageIdentity.root(minted[0]!))
  })

  it("chain(n): each caused by the previous, one conversation", () => {
    const [a, b, c] = Fixtures.chain(3)
    assert.deepStrictEqual([a!, b!, c!].map((e) => e.identity.messageId), [Fixtures.id(1), Fixtures.id(2), Fixtures.id(3)])
    assert.isTrue(MessageIdentity.isRoot(a!.identity))
    assert.isTrue(MessageIdentity.isCausedBy(b!.identity, a!.identity))
    assert.isTrue(MessageIdentity.isCausedBy(c!.identity, b!.identity))
    assert.deepStrictEqual<ReadonlyArray<string>>([a!, b!, c!].map((e) => e.identity.correlationId), [Fixtures.id(1), Fixtures.id(1), Fixtures.id(1)])
    assert.deepStrictEqual([a!, b!, c!].map((e) => e.type), ["Step0", "Step1", "Step2"])
    assert.deepStrictEqual(Fixtures.json(c!), { step: 2 })
    const later = Fixtures.chain(2, { start: 10, type: "Tick", payload: (i) => ({ i }) })
    assert.deepStrictEqual(later.map((e) => e.identity.messageId), [Fixtures.id(10), Fixtures.id(11)])
    assert.deepStrictEqual(later.map((e) => e.type), ["Tick", "Tick"])
    assert.deepStrictEqual(later.map(Fixtures.json), [{ i: 0 }, { i: 1 }])
    assert.deepStrictEqual(Fixtures.chain(0), [])
  })

  it("tree(spec): preorder envelopes whose causation tree renders as the spec", () => {
    const envelopes = Fixtures.tree({
      type: "OrderPlaced",
      payload: { orderId: "o-1" },
      children: [{ type: "PaymentTaken", children: ["ReceiptSent"] }, "StockReserved"]
    })
    assert.deepStrictEqual(envelopes.map((e) => e.type), ["OrderPlaced", "PaymentTaken", "ReceiptSent", "StockReserved"])
    assert.deepStrictEqual(envelopes.map((e) => e.identity.messageId), [1, 2, 3, 4].map(Fixtures.id))
    assert.deepStrictEqual(Fixtures.json(envelopes[0]!), { orderId: "o-1" })
    const tree = CausationTree.make(envelopes, (e) => e.identity)
    assert.strictEqual(
      CausationTree.render(tree, (e) => e.type),
      ["OrderPlaced", "├─ PaymentTaken", "│  └─ ReceiptSent", "└─ StockReserved"].join("\n")
    )
    assert.deepStrictEqual(Fixtures.tree("Alone", { start: 5 }).map((e) => e.identity.messageId), [Fixtures.id(5)])
  })

  it("raw: the wire form decodes back to the envelope", () => {
    const e = Fixtures.event("OrderPlaced", { orderId: "o-1" }, 4)
    const raw = Fixtures.raw(e)
    assert.strictEqual(raw.headers[Wire.HeaderNames.natsMsgId], Fixtures.id(4))
    const decoded = Wire.decodeRaw(raw)
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) {
      assert.strictEqual(decoded.success.identity.messageId, e.identity.messageId)
      assert.strictEqual(decoded.success.occurredAt, e.occurredAt)
    }
  })

  for (const kind of ["missingId", "badId", "badKind", "badTime"] as const) {
    it(`rawMalformed(${kind}) fails to decode with a DecodeError naming ${Fixtures.malformedHeader[kind]}`, () => {
      const raw = Fixtures.rawMalformed(kind)
      assert.strictEqual(raw.headers[Wire.HeaderNames.natsMsgId], Fixtures.id(1))
      const decoded = Wire.decodeRaw(raw)
      assert.isTrue(Result.isFailure(decoded))
      if (Result.isFailure(decoded)) {
        const reason = decoded.failure.reason
        assert.strictEqual(reason._tag, "DecodeError")
        assert.strictEqual(reason._tag === "DecodeError" ? reason.header : undefined, Fixtures.malformedHeader[kind])
      }
    })
  }

  it("rawMalformed keeps the base envelope's id and body", () => {
    const base = Fixtures.event("X", { a: 1 }, 9)
    const raw = Fixtures.rawMalformed("badTime", base)
    assert.strictEqual(raw.headers[Wire.HeaderNames.natsMsgId], Fixtures.id(9))
    assert.deepStrictEqual(raw.body, base.body)
  })
})
