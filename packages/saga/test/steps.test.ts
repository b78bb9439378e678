/**
 * `Saga.steps` on the in-memory transport and the memory store, under
 * `TestClock`.
 */
import { CausationTree, IdGenerator } from "@herald/identity"
import { MemoryTransport, Wait } from "@herald/testing"
import { EventLog } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { SagaMemory, SagaRunner, SagaStore } from "../src/index.ts"
import * as F from "./fixtures.ts"

const Live = SagaMemory.layer.pipe(Layer.provideMerge(MemoryTransport.layer), Layer.merge(IdGenerator.layer))

const advance = { advance: TestClock.adjust, bound: "10 minutes" } as const

const place = (orderId: string, total = 10) =>
  Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const placed = yield* F.OrderPlaced.root({ orderId, total })
    yield* log.append("shop.evt.orders.placed", placed)
    return placed
  })

const statusOf = (id: string) =>
  Effect.map(
    SagaStore.SagaStore.use((s) => s.load("checkout", id)),
    Option.match({ onNone: () => "none", onSome: (i) => i.status })
  )

const stored = Effect.gen(function*() {
  const log = yield* EventLog.EventLog
  const all = yield* Stream.runCollect(log.read(F.stream))
  return Array.from(all)
})

describe("Saga.steps (memory)", () => {
  it.effect("happy path: three steps in order, completed, the confirmation published, the causation tree complete", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({}), received)
      const runner = yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-1")
      const id = placed.identity.correlationId
      yield* Wait.until(statusOf(id), (s) => s === "completed", "saga completed", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type, F.ChargePayment.type, F.ShipOrder.type])
      const messages = yield* stored
      const confirmed = messages.filter((m) => m.envelope.type === F.OrderConfirmed.type)
      assert.strictEqual(confirmed.length, 1)
      // every message of the run, saga outputs and replies alike, in one tree rooted at the order
      const tree = CausationTree.fromIdentities(messages.map((m) => m.envelope.identity))
      assert.deepStrictEqual(tree.orphans, [])
      assert.deepStrictEqual(tree.roots.map((r) => r.identity.messageId), [placed.identity.messageId])
      assert.strictEqual(tree.size, 8) // placed, 3 commands, 3 replies, confirmed
      const history = yield* SagaStore.SagaStore.use((s) => s.history("checkout", id))
      assert.deepStrictEqual(history.map((h) => [h.version, h.trigger.type, h.status]), [
        [1, F.OrderPlaced.type, "running"],
        [2, F.StockReserved.type, "running"],
        [3, F.PaymentCharged.type, "running"],
        [4, F.OrderShipped.type, "completed"]
      ])
      const stats = yield* runner.stats
      assert.strictEqual(stats.applied, 4)
      assert.strictEqual(stats.duplicates, 0)
    }).pipe(Effect.provide(Live)))

  it.effect("failure at step 3: the refund, then the stock release, each sent once, in that order", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping" }), received)
      yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-2")
      const id = placed.identity.correlationId
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [
        F.ReserveStock.type,
        F.ChargePayment.type,
        F.ShipOrder.type,
        F.RefundPayment.type,
        F.ReleaseStock.type
      ])
      const messages = yield* stored
      const commands = messages.filter((m) => m.envelope.kind === "command").map((m) => m.envelope.type)
      assert.deepStrictEqual(commands, [
        F.ReserveStock.type,
        F.ChargePayment.type,
        F.ShipOrder.type,
        F.RefundPayment.type,
        F.ReleaseStock.type
      ])
      const release = messages.find((m) => m.envelope.type === F.ReleaseStock.type)!
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(release.envelope.body)), {
        orderId: "o-2",
        reservation: "r-o-2"
      })
      const instance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", id)))
      assert.strictEqual(instance.failure, "shipping failed: shipping.Failed")
      const cancelled = messages.filter((m) => m.envelope.type === F.OrderCancelled.type)
      assert.strictEqual(cancelled.length, 1)
    }).pipe(Effect.provide(Live)))
})
