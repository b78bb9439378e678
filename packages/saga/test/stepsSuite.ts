/**
 * `Saga.steps` end to end on the in-memory transport, run on each store
 * (memory under `TestClock`; SQLite and PostgreSQL on the live clock, with
 * the outbox relay carrying the saga's messages).
 */
import { CausationTree } from "@herald/identity"
import { Wait } from "@herald/testing"
import { EventLog } from "@herald/transport"
import { assert, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type { IdGenerator } from "@herald/identity"
import type { Topology } from "@herald/transport"
import { SagaQuery, SagaRunner, SagaStore } from "../src/index.ts"
import * as F from "./fixtures.ts"

export interface Harness {
  /** A fresh store, transport and (for SQL) outbox relay for one test. */
  readonly fresh: () => Layer.Layer<SagaStore.SagaStore | EventLog.EventLog | Topology.Topology | IdGenerator.IdGenerator, unknown>
  /** `test`: under `TestClock` (long durations, no waiting); `live`: short durations, real waits. */
  readonly clock: "test" | "live"
}

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

export const stepsSuite = (harness: Harness) => {
  const test = harness.clock === "test"
  const advance = test ? { advance: TestClock.adjust, bound: "10 minutes" } as const : { bound: "60 seconds" } as const
  /** Lets time pass: the test clock moves, or the test sleeps. */
  const pass = (d: Duration.Input) => test ? TestClock.adjust(d) : Effect.sleep(d)
  const paymentTimeout = test ? Duration.seconds(30) : Duration.millis(600)
  const paymentTimeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(paymentTimeout))
  const backoffUnit = test ? 1000 : 50
  const runnerOptions: SagaRunner.Options = {
    stream: F.stream,
    consumer: "checkout",
    ...(test ? {} : { timeoutInterval: Duration.millis(50) })
  }
  const topology = () => F.topology({ duplicateWindow: test ? Duration.minutes(2) : Duration.millis(300) })
  const checkout = (options?: F.CheckoutOptions) => F.checkout({ backoffUnit, ...options })
  const tc = (title: string, body: () => Effect.Effect<void, unknown, SagaStore.SagaStore | EventLog.EventLog | Topology.Topology | IdGenerator.IdGenerator | import("effect/Scope").Scope>) =>
    test
      ? it.effect(title, () => Effect.provide(body(), harness.fresh()))
      : it.live(title, () => Effect.provide(Effect.scoped(body()), harness.fresh()), 90_000)


  tc("happy path: three steps in order, completed, the confirmation published, the causation tree complete", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({}), received)
      const runner = yield* SagaRunner.run(checkout(), runnerOptions)
      const placed = yield* place("o-1")
      const id = placed.identity.correlationId
      yield* Wait.until(statusOf(id), (s) => s === "completed", "saga completed", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type, F.ChargePayment.type, F.ShipOrder.type])
      // the last transition's messages may still be on their way (the outbox relay)
      const messages = yield* Wait.until(stored, (all) => all.some((m) => m.envelope.type === F.OrderConfirmed.type), "confirmation stored", advance)
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
    }))

  tc("failure at step 3: the refund, then the stock release, each sent once, in that order", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping" }), received)
      yield* SagaRunner.run(checkout(), runnerOptions)
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
      const messages = yield* Wait.until(stored, (all) => all.some((m) => m.envelope.type === F.OrderCancelled.type), "cancellation stored", advance)
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
    }))

  tc("a step's timeout compensates the completed steps only", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ silentAt: "payment" }), received)
      const saga = checkout({ paymentTimeout })
      const runner = yield* SagaRunner.run(saga, runnerOptions)
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
        ["step:payment", "herald.saga.StepTimedOut", paymentTimeoutMillis]
      ])
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type, F.ChargePayment.type, F.ReleaseStock.type])
      const instance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", id)))
      assert.strictEqual(instance.failure, `payment timed out after ${paymentTimeoutMillis} ms`)
      assert.deepStrictEqual(yield* SagaStore.SagaStore.use((s) => s.timeouts("checkout", id)), [])
      const stats = yield* runner.stats
      assert.strictEqual(stats.timeoutsFired, 1)
      assert.strictEqual(stats.staleTimeouts, 0)
    }))

  tc("a runner stopped while a timeout is pending: the next runner fires it exactly once", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ silentAt: "payment" }), received)
      const saga = checkout({ paymentTimeout })
      const placed = yield* place("o-4")
      const id = placed.identity.correlationId
      yield* Effect.scoped(Effect.gen(function*() {
        yield* SagaRunner.run(saga, runnerOptions)
        yield* Wait.until(
          SagaStore.SagaStore.use((s) => s.timeouts("checkout", id)),
          (t) => t.length === 1,
          "the payment timeout is pending",
          advance
        )
      }))
      // no runner while the timeout comes due
      yield* pass(paymentTimeoutMillis * 4)
      assert.strictEqual(yield* statusOf(id), "running")
      const second = yield* SagaRunner.run(saga, runnerOptions)
      const third = yield* SagaRunner.run(saga, runnerOptions)
      yield* Wait.until(statusOf(id), (s) => s === "compensated", "saga compensated", advance)
      yield* pass(paymentTimeoutMillis / 3)
      const fired = (yield* second.stats).timeoutsFired + (yield* third.stats).timeoutsFired
      assert.strictEqual(fired, 1)
      const history = yield* SagaStore.SagaStore.use((s) => s.history("checkout", id))
      assert.strictEqual(history.filter((h) => h.trigger.type === "herald.saga.StepTimedOut").length, 1)
      assert.strictEqual(received.filter((r) => r.type === F.ReleaseStock.type).length, 1)
    }))

  tc("a compensation that fails twice then succeeds: retried with backoff, then the next one runs", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping", refundFailures: 2 }), received)
      yield* SagaRunner.run(checkout(), runnerOptions)
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
    }))

  tc("a compensation that always fails: compensation-failed with the reason, the other compensations done", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "shipping", refundFailures: Infinity }), received)
      yield* SagaRunner.run(checkout(), runnerOptions)
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
    }))

  tc("a failure at the first step ends compensated with nothing to undo", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({ failAt: "stock" }), received)
      yield* SagaRunner.run(checkout(), runnerOptions)
      const placed = yield* place("o-7")
      yield* Wait.until(statusOf(placed.identity.correlationId), (s) => s === "compensated", "compensated", advance)
      assert.deepStrictEqual(received.map((r) => r.type), [F.ReserveStock.type])
    }))

  tc("a start message stored twice (past the duplicate window) starts one run; the copy is a duplicate", () =>
    Effect.gen(function*() {
      yield* topology()
      const received: Array<F.Received> = []
      yield* F.services(() => ({}), received)
      const runner = yield* SagaRunner.run(checkout(), runnerOptions)
      const log = yield* EventLog.EventLog
      const placed = yield* place("o-8")
      yield* pass(test ? Duration.minutes(5) : Duration.millis(600))
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
    }))
}
