/**
 * `Saga.steps` on a real nats-server with the KV store: the engine and the
 * runner over `SagaKv`, on real time.
 */
import { IdGenerator } from "@herald/identity"
import { NatsServer, Wait } from "@herald/testing"
import { EventLog } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { SagaRunner, SagaStore } from "../src/index.ts"
import { SagaKv } from "../src/kv.ts"
import * as F from "./fixtures.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-kv-engine-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const Live = SagaKv.layer({ bucket: "checkout_sagas" }).pipe(Layer.provideMerge(Nats), Layer.merge(IdGenerator.layer))

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

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("Saga.steps on SagaKv", (it) => {
  it.effect("a completed order, a compensated one and a timed-out one, each command sent once, in order", () =>
    Effect.gen(function*() {
      yield* F.topology()
      const received: Array<F.Received> = []
      const scripts: Record<string, F.Script> = { ok: {}, ship: { failAt: "shipping" }, slow: { silentAt: "payment" } }
      yield* F.services((orderId) => scripts[orderId] ?? {}, received)
      const runner = yield* SagaRunner.run(F.checkout({ paymentTimeout: "1 second" }), {
        stream: F.stream,
        consumer: "checkout",
        timeoutInterval: "100 millis"
      })
      const ok = (yield* place("ok")).identity.correlationId
      const ship = (yield* place("ship")).identity.correlationId
      const slow = (yield* place("slow")).identity.correlationId
      yield* Wait.until(statusOf(ok), (s) => s === "completed", "ok completed", "20 seconds")
      yield* Wait.until(statusOf(ship), (s) => s === "compensated", "ship compensated", "20 seconds")
      yield* Wait.until(statusOf(slow), (s) => s === "compensated", "slow compensated", "20 seconds")
      const of = (orderId: string) => received.filter((r) => r.orderId === orderId).map((r) => r.type)
      assert.deepStrictEqual(of("ok"), [F.ReserveStock.type, F.ChargePayment.type, F.ShipOrder.type])
      assert.deepStrictEqual(of("ship"), [
        F.ReserveStock.type,
        F.ChargePayment.type,
        F.ShipOrder.type,
        F.RefundPayment.type,
        F.ReleaseStock.type
      ])
      assert.deepStrictEqual(of("slow"), [F.ReserveStock.type, F.ChargePayment.type, F.ReleaseStock.type])
      const history = yield* SagaStore.SagaStore.use((s) => s.history("checkout", ok))
      assert.deepStrictEqual(history.map((h) => [h.version, h.trigger.type, h.status]), [
        [1, F.OrderPlaced.type, "running"],
        [2, F.StockReserved.type, "running"],
        [3, F.PaymentCharged.type, "running"],
        [4, F.OrderShipped.type, "completed"]
      ])
      const slowInstance = Option.getOrThrow(yield* SagaStore.SagaStore.use((s) => s.load("checkout", slow)))
      assert.strictEqual(slowInstance.failure, "payment timed out after 1000 ms")
      assert.deepStrictEqual(yield* SagaStore.SagaStore.use((s) => s.timeouts("checkout", slow)), [])
      // Every message the sagas sent is in the stream exactly once.
      const log = yield* EventLog.EventLog
      const messages = Array.from(yield* Stream.runCollect(log.read(F.stream)))
      const ids = messages.map((m) => m.envelope.identity.messageId)
      assert.strictEqual(new Set(ids).size, ids.length)
      assert.strictEqual(messages.filter((m) => m.envelope.type === F.OrderConfirmed.type).length, 1)
      assert.strictEqual(messages.filter((m) => m.envelope.type === F.OrderCancelled.type).length, 2)
      const stats = yield* runner.stats
      assert.strictEqual(stats.timeoutsFired, 1)
      assert.strictEqual(yield* SagaStore.SagaStore.use((s) => s.flush), 0)
    }))
})
