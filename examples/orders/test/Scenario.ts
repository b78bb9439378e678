/**
 * The example's scenario and everything it must leave behind, asserted with
 * exact counts. Both test files run it: one on the in-memory transport and
 * SQLite, one on nats-server and PostgreSQL.
 */
import { expect } from "@effect/vitest"
import { CausationTree } from "@herald/identity"
import { Inbox } from "@herald/inbox"
import { MetricsHttp } from "@herald/metrics"
import { Replay } from "@herald/replay"
import { SagaQuery } from "@herald/saga"
import { Wait } from "@herald/testing"
import { DeadLetter, EventLog, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as App from "../src/App.ts"
import * as Checkout from "../src/Checkout.ts"
import { InventoryService } from "../src/InventoryService.ts"
import { consumers, stream } from "../src/Messages.ts"
import { OrderService } from "../src/OrderService.ts"
import { OrderView } from "../src/OrderView.ts"
import { PaymentService } from "../src/PaymentService.ts"

/**
 * The application for tests: `/metrics` on a free port; the example's
 * payment timeout (a charge answered normally must never be late, also when
 * every test suite runs at once); timeouts and the read model polled often.
 */
export const config: App.Config = {
  ...App.defaults,
  timeoutInterval: "50 millis",
  pollInterval: "50 millis",
  metricsPort: 0
}

export const appLayer = App.layer(config)

const scrape = Effect.gen(function*() {
  const server = yield* MetricsHttp.MetricsServer
  const text = yield* Effect.promise(() => fetch(`${server.url}/metrics`).then((r) => r.text()))
  return App.consumedCounts(text)
})

const types = (flow: ReadonlyArray<{ readonly type: string }>) => flow.map((e) => e.type)

/** Runs the five orders and checks every service, the saga, the read model, the index and the metrics. */
export const verify = Effect.gen(function*() {
  const result = yield* App.run(App.orders, { bound: "60 seconds" })
  const ids = ["order-1", "order-2", "order-3", "order-4", "order-5"]

  // Each order's final state, in the order service and in the read model.
  expect(result.orders.map((o) => [o.orderId, o.status, o.reason])).toEqual([
    ["order-1", "shipped", null],
    ["order-2", "shipped", null],
    ["order-3", "cancelled", "out of stock"],
    ["order-4", "cancelled", "payment declined"],
    ["order-5", "cancelled", "payment timeout"]
  ])
  expect(result.view.map((o) => [o.orderId, o.status, o.payment, o.stock, o.cancelReason])).toEqual([
    ["order-1", "shipped", "charged", "reserved", null],
    ["order-2", "shipped", "charged", "reserved", null],
    ["order-3", "cancelled", "refunded", "out of stock", "out of stock"],
    ["order-4", "cancelled", "declined", "pending", "payment declined"],
    ["order-5", "cancelled", "pending", "pending", "payment timeout"]
  ])
  expect(result.view.map(App.outcome)).toEqual([
    "shipped",
    "shipped",
    "out of stock → payment refunded → cancelled",
    "payment declined → cancelled",
    "payment timeout → cancelled"
  ])
  expect(ids.map((id) => result.sagas.get(id)?.status)).toEqual([
    "completed",
    "completed",
    "compensated",
    "compensated",
    "compensated"
  ])

  // Payments: two charged, one charged then refunded, one declined, one held.
  const payments = yield* (yield* PaymentService).payments
  expect(payments.map((p) => [p.orderId, p.status, p.amount])).toEqual([
    ["order-1", "charged", 4_000],
    ["order-2", "charged", 25_000],
    ["order-3", "refunded", 15_000],
    ["order-4", "declined", 2_000],
    ["order-5", "awaiting authentication", 3_000]
  ])

  // Stock: reserved for the two shipped orders only.
  const inventory = yield* InventoryService
  expect(yield* inventory.reservations).toEqual([
    { orderId: "order-1", sku: "lamp", quantity: 2 },
    { orderId: "order-2", sku: "desk", quantity: 1 }
  ])
  expect(yield* inventory.stock).toEqual([
    { sku: "chair", available: 2, reserved: 0 },
    { sku: "desk", available: 1, reserved: 1 },
    { sku: "lamp", available: 3, reserved: 2 },
    { sku: "vase", available: 4, reserved: 0 }
  ])

  // Every command the saga sent is in the stream once and was applied once:
  // the inbox of its service holds exactly the stream's command ids.
  const log = yield* EventLog.EventLog
  const stored = Array.from(yield* Stream.runCollect(log.read(stream)))
  expect(stored).toHaveLength(33)
  const commandsFor = (prefix: string) =>
    stored.filter((m) => m.subject.startsWith(prefix)).map((m) => m.envelope.identity.messageId).sort()
  const byService = [
    [consumers.orders, "orders.cmd.order.", 5],
    [consumers.payments, "orders.cmd.payment.", 6],
    [consumers.inventory, "orders.cmd.inventory.", 3]
  ] as const
  for (const [consumer, prefix, count] of byService) {
    const records = yield* Inbox.records({ consumer, limit: 1_000 })
    expect(commandsFor(prefix)).toHaveLength(count)
    expect(records.map((r) => r.messageId).sort()).toEqual(commandsFor(prefix))
  }
  expect(yield* (yield* OrderService).stats).toEqual({ applied: 5, duplicates: 0 })
  expect(yield* (yield* PaymentService).stats).toEqual({ applied: 6, duplicates: 0 })
  expect(yield* inventory.stats).toEqual({ applied: 3, duplicates: 0 })
  expect(types(stored.map((m) => m.envelope)).filter((t) => t === "ChargePayment")).toHaveLength(5)
  expect(types(stored.map((m) => m.envelope)).filter((t) => t === "RefundPayment")).toHaveLength(1)

  // Compensation in reverse order: the refund is confirmed before the order is cancelled.
  const order3 = result.orders[2]!
  const history = yield* SagaQuery.history(Checkout.name, order3.correlationId)
  expect(history.map((h) => [h.trigger.type, h.status, h.outgoing.map((o) => o.type)])).toEqual([
    ["OrderPlaced", "running", ["ChargePayment"]],
    ["PaymentCharged", "running", ["ReserveStock"]],
    ["OutOfStock", "compensating", ["RefundPayment"]],
    ["PaymentRefunded", "compensated", ["CancelOrder"]]
  ])

  // The compensated order's flow, found through the correlation index: one
  // chain of nine messages, each caused by the one before.
  expect(result.compensated?.orderId).toBe("order-3")
  expect(types(result.flow)).toEqual([
    "OrderPlaced",
    "ChargePayment",
    "PaymentCharged",
    "ReserveStock",
    "OutOfStock",
    "RefundPayment",
    "PaymentRefunded",
    "CancelOrder",
    "OrderCancelled"
  ])
  const tree = CausationTree.make(result.flow, (e) => e.identity)
  expect(CausationTree.roots(tree).map((n) => n.value.type)).toEqual(["OrderPlaced"])
  expect(CausationTree.maxDepth(tree)).toBe(8)
  expect(CausationTree.orphans(tree)).toHaveLength(0)
  expect(result.tree.split("\n")).toEqual([
    "event OrderPlaced",
    "└─ command ChargePayment",
    "   └─ event PaymentCharged",
    "      └─ command ReserveStock",
    "         └─ event OutOfStock",
    "            └─ command RefundPayment",
    "               └─ event PaymentRefunded",
    "                  └─ command CancelOrder",
    "                     └─ event OrderCancelled"
  ])
  for (const e of result.flow) expect(e.identity.correlationId).toBe(order3.correlationId)

  // The order whose payment timed out: the saga's timeout, published to the
  // stream, is caused by the order and causes the cancellation.
  const timedOut = yield* Replay.byCorrelation(result.orders[4]!.correlationId)
  expect(
    CausationTree.render(CausationTree.make(timedOut.messages.map((m) => m.envelope), (e) => e.identity), (e) => e.type)
      .split("\n")
  ).toEqual([
    "OrderPlaced",
    "├─ ChargePayment",
    "└─ herald.saga.StepTimedOut",
    "   └─ CancelOrder",
    "      └─ OrderCancelled"
  ])

  // /metrics: every delivery each consumer handled, exactly.
  expect(yield* scrape).toEqual({
    [consumers.checkout]: 18,
    [consumers.index]: 33,
    [consumers.inventory]: 3,
    [consumers.orders]: 5,
    [consumers.payments]: 6
  })

  // The read model is the events folded in order: a rebuild by replay ends equal.
  const view = yield* OrderView
  const before = yield* view.orders
  const rebuilt = yield* view.rebuild
  expect(rebuilt.position).toBe(33)
  expect(rebuilt.rebuilding).toBe(false)
  expect(yield* view.orders).toEqual(before)

  // A command delivered again (sent once more with the fresh Nats-Msg-Id
  // `herald dlq retry` gives a dead letter it sends again) is skipped by the inbox: order-1
  // is not charged twice.
  const charge = stored.find((m) => m.envelope.type === "ChargePayment" && m.envelope.identity.correlationId === result.orders[0]!.correlationId)!
  const raw = yield* log.getRaw(stream, charge.sequence)
  const copy = raw._tag === "Some" ? raw.value.raw : expect.unreachable("the charge is stored")
  yield* log.appendRaw(charge.subject, {
    headers: { ...copy.headers, [Wire.HeaderNames.natsMsgId]: DeadLetter.retryId(stream, charge.sequence, charge.timestamp) },
    body: copy.body
  })
  const service = yield* PaymentService
  yield* Wait.until(service.stats, (s) => s.duplicates === 1, "the copy reaches the payment service")
  expect(yield* service.stats).toEqual({ applied: 6, duplicates: 1 })
  expect((yield* service.payments).filter((p) => p.status === "charged")).toHaveLength(2)
  expect((yield* scrape)[consumers.payments]).toBe(7)
})

/** The application on a transport and a database. */
export const provide = <ROut, E, RIn>(base: Layer.Layer<ROut, E, RIn>) => Layer.provideMerge(appLayer, base)
