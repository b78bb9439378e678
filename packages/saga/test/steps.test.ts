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
import { SagaMemory, SagaQuery, SagaRunner, SagaStore } from "../src/index.ts"
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

  it.effect("a step's timeout under TestClock compensates the completed steps only", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ silentAt: "payment" }), received)
      const saga = F.checkout({ paymentTimeout: "30 seconds" })
      const runner = yield* SagaRunner.run(saga, { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-3")
      const id = placed.identity.correlationId
      yield* Wait.until(
        SagaStore.SagaStore.use((s) => s.timeouts("checkout", id)),
        (t) => t.length === 1,
        "the payment timeout is pending",
        advance
      )
      const view = Option.getOrThrow(yield* SagaQuery.get(saga, id))
      assert.strictEqual(view.status, "running")
      assert.strictEqual(view.version, 2)
      assert.strictEqual(view.state.step, 1)
      assert.deepStrictEqual(view.state.results, { [F.StockReserved.type]: { orderId: "o-3", reservation: "r-o-3" } })
      assert.deepStrictEqual(view.timeouts.map((t) => [t.name, t.type, t.dueAt - view.updatedAt]), [
        ["step:payment", "herald.saga.StepTimedOut", 30_000]
      ])
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type, F.ChargePayment.type, F.ReleaseStock.type])
      const instance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", id)))
      assert.strictEqual(instance.failure, "payment timed out after 30000 ms")
      assert.deepStrictEqual(yield* SagaStore.SagaStore.use((s) => s.timeouts("checkout", id)), [])
      const stats = yield* runner.stats
      assert.strictEqual(stats.timeoutsFired, 1)
      assert.strictEqual(stats.staleTimeouts, 0)
    }).pipe(Effect.provide(Live)))

  it.effect("a runner stopped while a timeout is pending: the next runner fires it exactly once", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ silentAt: "payment" }), received)
      const saga = F.checkout({ paymentTimeout: "30 seconds" })
      const placed = yield* place("o-4")
      const id = placed.identity.correlationId
      yield* Effect.scoped(Effect.gen(function*() {
        yield* SagaRunner.run(saga, { stream: F.stream, consumer: "checkout" })
        yield* Wait.until(
          SagaStore.SagaStore.use((s) => s.timeouts("checkout", id)),
          (t) => t.length === 1,
          "the payment timeout is pending",
          advance
        )
      }))
      // no runner while the timeout comes due
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* statusOf(id), "running")
      const second = yield* SagaRunner.run(saga, { stream: F.stream, consumer: "checkout" })
      const third = yield* SagaRunner.run(saga, { stream: F.stream, consumer: "checkout" })
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      yield* TestClock.adjust("10 seconds")
      const fired = (yield* second.stats).timeoutsFired + (yield* third.stats).timeoutsFired
      assert.strictEqual(fired, 1)
      const history = yield* SagaStore.SagaStore.use((s) => s.history("checkout", id))
      assert.strictEqual(history.filter((h) => h.trigger.type === "herald.saga.StepTimedOut").length, 1)
      assert.strictEqual(received.filter((r) => r.type === F.ReleaseStock.type).length, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("a compensation that fails twice then succeeds: retried with backoff, then the next one runs", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping", refundFailures: 2 }), received)
      yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-5")
      const id = placed.identity.correlationId
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [
        F.ReserveStock.type,
        F.ChargePayment.type,
        F.ShipOrder.type,
        F.RefundPayment.type,
        F.RefundPayment.type,
        F.RefundPayment.type,
        F.ReleaseStock.type
      ])
      const refunds = received.filter((r) => r.type === F.RefundPayment.type)
      assert.strictEqual(new Set(refunds.map((r) => r.messageId)).size, 3)
      const instance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", id)))
      assert.strictEqual(instance.failure, "shipping failed: shipping.Failed")
    }).pipe(Effect.provide(Live)))

  it.effect("a compensation that always fails: compensation-failed with the reason, the other compensations done", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping", refundFailures: Infinity }), received)
      yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-6")
      const id = placed.identity.correlationId
      yield* Wait.until(statusOf(id), (s) => s === "compensation-failed", "compensation failed", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [
        F.ReserveStock.type,
        F.ChargePayment.type,
        F.ShipOrder.type,
        F.RefundPayment.type,
        F.RefundPayment.type,
        F.RefundPayment.type,
        F.ReleaseStock.type
      ])
      const instance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", id)))
      assert.strictEqual(
        instance.failure,
        "shipping failed: shipping.Failed; compensation failed: payment: payments.RefundFailed (attempt 3 of 3)"
      )
      const list = yield* SagaQuery.list("checkout", { status: "compensation-failed" })
      assert.deepStrictEqual(list.map((i) => i.id), [id])
      const history = yield* SagaQuery.history("checkout", id)
      assert.deepStrictEqual(history.map((h) => [h.trigger.type, h.status, h.outgoing.map((o) => o.type)]), [
        [F.OrderPlaced.type, "running", [F.ReserveStock.type]],
        [F.StockReserved.type, "running", [F.ChargePayment.type]],
        [F.PaymentCharged.type, "running", [F.ShipOrder.type]],
        [F.ShippingFailed.type, "compensating", [F.RefundPayment.type]],
        [F.RefundFailed.type, "compensating", []],
        ["herald.saga.CompensationRetry", "compensating", [F.RefundPayment.type]],
        [F.RefundFailed.type, "compensating", []],
        ["herald.saga.CompensationRetry", "compensating", [F.RefundPayment.type]],
        [F.RefundFailed.type, "compensating", [F.ReleaseStock.type]],
        [F.StockReleased.type, "compensation-failed", [F.OrderCancelled.type]]
      ])
    }).pipe(Effect.provide(Live)))

  it.effect("a failure at the first step ends compensated with nothing to undo", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "stock" }), received)
      yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const placed = yield* place("o-7")
      yield* Wait.until(statusOf(placed.identity.correlationId), (s) => s === "compensated", "compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type])
    }).pipe(Effect.provide(Live)))

  it.effect("a start message stored twice (past the duplicate window) starts one run; the copy is a duplicate", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({}), received)
      const runner = yield* SagaRunner.run(F.checkout(), { stream: F.stream, consumer: "checkout" })
      const log = yield* EventLog.EventLog
      const placed = yield* place("o-8")
      yield* TestClock.adjust("5 minutes")
      const again = yield* log.append("shop.evt.orders.placed", placed)
      assert.strictEqual(again.duplicate, false)
      yield* Wait.until(statusOf(placed.identity.correlationId), (s) => s === "completed", "completed", advance)
      // placed twice, three replies, and the saga's own OrderConfirmed (not handled: ignored)
      yield* Wait.until(runner.stats, (s) => s.consumer.acked === 6, "every event acked", advance)
      const stats = yield* runner.stats
      assert.strictEqual(stats.applied, 4)
      assert.strictEqual(stats.duplicates, 1)
      assert.strictEqual(stats.ignored, 1)
      assert.strictEqual(received.filter((r) => r.type === F.ReserveStock.type).length, 1)
    }).pipe(Effect.provide(Live)))
})
