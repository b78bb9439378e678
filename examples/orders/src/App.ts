/**
 * The application: the three services, the checkout saga, the read model,
 * the correlation index and the metrics endpoint, composed over any
 * transport (`Bus`, `EventLog`, `Topology`) and any SQL database
 * (`SqlClient`, PostgreSQL or SQLite). `main.ts` picks those two; the tests
 * pick theirs.
 *
 *   transport ── Metrics (counts every send and delivery)
 *      │
 *   database ── outbox, inbox, saga store, checkpoints, correlation index
 *      │
 *   OrderService · PaymentService · InventoryService · OrderView
 *   checkout saga · correlation index · outbox relay · /metrics
 *
 * `run` places a list of orders, waits until every flow has settled, and
 * answers what happened.
 */
import { CausationTree } from "@herald/identity"
import { InboxSql } from "@herald/inbox"
import { Metrics, MetricsHttp } from "@herald/metrics"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "@herald/outbox"
import { CheckpointSql, CorrelationIndex, CorrelationIndexSql, Replay } from "@herald/replay"
import { SagaQuery, SagaRunner, SagaSql, SagaStore } from "@herald/saga"
import { type Envelope, EventLog, Topology } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Checkout from "./Checkout.ts"
import * as InventoryService from "./InventoryService.ts"
import { consumers, stream, topology } from "./Messages.ts"
import * as OrderService from "./OrderService.ts"
import * as OrderView from "./OrderView.ts"
import * as PaymentService from "./PaymentService.ts"

export interface Config {
  /** How long the payment service may take to answer a charge before the order is cancelled. */
  readonly paymentTimeout: Duration.Input
  /** How often the saga fires the timeouts that came due. */
  readonly timeoutInterval: Duration.Input
  /** How often the read model catches up with the stream. */
  readonly pollInterval: Duration.Input
  /** The port of `/metrics`, `/healthz` and `/readyz` (0: a free one); `undefined`: not served. */
  readonly metricsPort: number | undefined
  readonly cards: ReadonlyArray<PaymentService.Card>
  readonly stock: ReadonlyArray<{ readonly sku: string; readonly available: number }>
}

/** The shop the example runs: who can pay what, what is on the shelves. */
export const shop: Pick<Config, "cards" | "stock"> = {
  cards: [
    { customer: "alice", limit: 100_000, authenticate: false },
    { customer: "bob", limit: 100_000, authenticate: false },
    { customer: "carol", limit: 100_000, authenticate: false },
    { customer: "dave", limit: 1_000, authenticate: false },
    { customer: "erin", limit: 100_000, authenticate: true }
  ],
  stock: [
    { sku: "lamp", available: 5 },
    { sku: "desk", available: 2 },
    { sku: "chair", available: 2 },
    { sku: "vase", available: 4 }
  ]
}

/** Five orders, one of each outcome and one more shipped. */
export const orders: ReadonlyArray<OrderService.NewOrder> = [
  { customer: "alice", sku: "lamp", quantity: 2, amount: 4_000 }, // shipped
  { customer: "bob", sku: "desk", quantity: 1, amount: 25_000 }, // shipped
  { customer: "carol", sku: "chair", quantity: 3, amount: 15_000 }, // 2 chairs left: out of stock → refunded, cancelled
  { customer: "dave", sku: "lamp", quantity: 1, amount: 2_000 }, // over dave's limit: declined, cancelled
  { customer: "erin", sku: "vase", quantity: 1, amount: 3_000 } // erin never authenticates: payment timeout, cancelled
]

export const defaults: Config = {
  ...shop,
  // Long enough that a payment answered normally is never late, even on a
  // loaded machine: the timeout races every charge, not only erin's.
  paymentTimeout: "10 seconds",
  timeoutInterval: "250 millis",
  pollInterval: "200 millis",
  metricsPort: undefined
}

/** The example's own failure: the flows did not settle in time. */
export class FlowsUnsettled extends Schema.TaggedError<FlowsUnsettled>("example-orders/FlowsUnsettled")(
  "FlowsUnsettled",
  { millis: Schema.Number, detail: Schema.String }
) {
  override get message(): string {
    return `the order flows did not settle within ${this.millis} ms: ${this.detail}`
  }
}

const Stores = Layer.mergeAll(
  InboxSql.layer(),
  SagaSql.layer(),
  CheckpointSql.layer(),
  CorrelationIndexSql.layer()
).pipe(
  Layer.provideMerge(Outbox.layer.pipe(Layer.provideMerge(OutboxSql.layer()), Layer.provide(OutboxMigrations.layer())))
)

const EnsureTopology = Layer.effectDiscard(Topology.ensure(topology))

/**
 * The whole application over a transport and a database. Closing it stops
 * every consumer, the relay, the read model's poll and the HTTP server.
 */
export const layer = (config: Config) => {
  const Services = Layer.mergeAll(
    OrderService.layer,
    PaymentService.layer(config.cards),
    InventoryService.layer(config.stock),
    OrderView.layer({ pollInterval: config.pollInterval })
  )
  const Runners = Layer.mergeAll(
    SagaRunner.layer(Checkout.make({ paymentTimeout: config.paymentTimeout }), {
      stream,
      consumer: consumers.checkout,
      concurrency: 4,
      timeoutInterval: config.timeoutInterval
    }),
    CorrelationIndex.layer({ stream, consumer: consumers.index, concurrency: 4 }),
    OutboxRelay.layer({ pollInterval: "100 millis" })
  )
  const Http = config.metricsPort === undefined
    ? Layer.empty
    : MetricsHttp.layer({ port: config.metricsPort })
  // A registry of its own: two applications in one process count apart.
  const Instrumented = Metrics.layer().pipe(Layer.provideMerge(Layer.sync(Metric.MetricRegistry)(() => new Map())))
  return Layer.mergeAll(Services, Runners, Http).pipe(
    Layer.provideMerge(Stores),
    Layer.provideMerge(EnsureTopology),
    Layer.provideMerge(Instrumented)
  )
}

/** What happened to one order, as the read model tells it. */
export const outcome = (order: OrderView.OrderSummary): string => {
  if (order.status === "shipped") return "shipped"
  if (order.status === "cancelled") {
    const steps = [order.cancelReason ?? "cancelled"]
    if (order.payment === "refunded") steps.push("payment refunded")
    steps.push("cancelled")
    return steps.join(" → ")
  }
  return order.status
}

/** What a run did. */
export interface Result {
  /** The orders placed, as the order service holds them. */
  readonly orders: ReadonlyArray<OrderService.Order>
  /** The same orders in the read model, in the same order. */
  readonly view: ReadonlyArray<OrderView.OrderSummary>
  /** The saga instance of each order, by order id. */
  readonly sagas: ReadonlyMap<string, SagaStore.Instance>
  /** The first order that was compensated (its payment refunded), if one was. */
  readonly compensated: OrderService.Order | undefined
  /** Its flow, parents before children, and its causation tree drawn. */
  readonly flow: ReadonlyArray<Envelope.Envelope>
  readonly tree: string
}

const label = (e: Envelope.Envelope): string => `${e.kind} ${e.type}`

/**
 * Whether every flow of `placed` has settled: each saga finished, each order
 * final in the read model (whose last event is then in the stream), and then
 * nothing left anywhere: no consumer behind, the read model at the head, the
 * outbox empty. Answers what is still open.
 */
const unsettled = (placed: ReadonlyArray<OrderService.Order>) =>
  Effect.gen(function*() {
    const ids = new Set(placed.map((o) => o.correlationId))
    const sagas = (yield* SagaQuery.list(Checkout.name, { limit: 10_000 })).filter((i) => ids.has(i.id))
    const running = placed.length - sagas.filter((i) => SagaStore.isFinal(i.status)).length
    if (running > 0) return `${running} sagas running`
    const view = yield* OrderView.OrderView
    const rows = new Map((yield* view.orders).map((o) => [o.orderId, o]))
    const open = placed.filter((o) => {
      const status = rows.get(o.orderId)?.status
      return status !== "shipped" && status !== "cancelled"
    })
    if (open.length > 0) return `${open.map((o) => o.orderId).join(", ")} not final in the read model`
    const log = yield* EventLog.EventLog
    for (const consumer of Object.values(consumers)) {
      const lag = yield* log.lag(stream, consumer)
      if (lag.pending + lag.ackPending > 0) return `consumer ${consumer}: ${lag.pending} pending, ${lag.ackPending} unacknowledged`
    }
    const status = yield* view.status
    if (status.lag !== 0) return `the read model is ${status.lag} behind`
    const outbox = yield* Outbox.status
    if (outbox.pending > 0) return `${outbox.pending} messages in the outbox`
    return undefined
  })

/** Waits until `unsettled` answers nothing, polling every 50 ms, at most `bound`. */
export const settle = (placed: ReadonlyArray<OrderService.Order>, bound: Duration.Input = "60 seconds") =>
  unsettled(placed).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (open) => open === undefined }),
    Effect.asVoid,
    Effect.timeoutOrElse({
      duration: bound,
      orElse: () =>
        Effect.flatMap(unsettled(placed), (open) =>
          Effect.fail(
            new FlowsUnsettled({ millis: Duration.toMillis(Duration.fromInputUnsafe(bound)), detail: open ?? "settled just now" })
          ))
    })
  )

/** The read model after a rebuild is not the one kept live. */
export class RebuildDiffers extends Schema.TaggedError<RebuildDiffers>("example-orders/RebuildDiffers")(
  "RebuildDiffers",
  { live: Schema.String, rebuilt: Schema.String }
) {
  override get message(): string {
    return `the read model rebuilt by replay differs from the live one: ${this.rebuilt} instead of ${this.live}`
  }
}

/** Rebuilds the read model by replaying the stream; fails with `RebuildDiffers` unless it ends equal. */
export const rebuildView = Effect.gen(function*() {
  const view = yield* OrderView.OrderView
  const live = yield* view.orders
  const stats = yield* view.rebuild
  const rebuilt = yield* view.orders
  if (JSON.stringify(rebuilt) !== JSON.stringify(live)) {
    return yield* Effect.fail(new RebuildDiffers({ live: JSON.stringify(live), rebuilt: JSON.stringify(rebuilt) }))
  }
  return { orders: rebuilt.length, replayed: stats.position }
})

/** Places `orders` one after the other, waits until their flows settle, and reads what happened. */
export const run = (toPlace: ReadonlyArray<OrderService.NewOrder>, options?: { readonly bound?: Duration.Input }) =>
  Effect.gen(function*() {
    const service = yield* OrderService.OrderService
    const placed: Array<OrderService.Order> = []
    for (const order of toPlace) placed.push(yield* service.place(order))
    yield* settle(placed, options?.bound)

    const ids = new Set(placed.map((o) => o.orderId))
    // In the order they were placed.
    const current = (yield* service.orders).filter((o) => ids.has(o.orderId))
    const rows = new Map((yield* (yield* OrderView.OrderView).orders).map((o) => [o.orderId, o]))
    const view = current.flatMap((o) => Option.toArray(Option.fromNullishOr(rows.get(o.orderId))))
    const instances = yield* SagaQuery.list(Checkout.name, { limit: 10_000 })
    const byCorrelation = new Map(instances.map((i) => [i.id, i]))
    const sagas = new Map(
      current.flatMap((o) => Option.toArray(Option.fromNullishOr(byCorrelation.get(o.correlationId))).map((i) => [o.orderId, i]))
    )
    const compensated = current.find((o) => view.find((v) => v.orderId === o.orderId)?.payment === "refunded")
    let flow: ReadonlyArray<Envelope.Envelope> = []
    let tree = ""
    if (compensated !== undefined) {
      const found = yield* Replay.byCorrelation(compensated.correlationId)
      flow = found.messages.map((m) => m.envelope)
      tree = CausationTree.render(CausationTree.make(flow, (e) => e.identity), label)
    }
    return { orders: current, view, sagas, compensated, flow, tree } satisfies Result
  })


/**
 * The deliveries each consumer handled successfully, read from a `/metrics`
 * page (`messaging_client_consumed_messages` of `consume`, without an
 * `error_type`).
 */
export const consumedCounts = (metrics: string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("messaging_client_consumed_messages{") || line.includes("error_type=")) continue
    if (!line.includes(`messaging_operation_name="consume"`)) continue
    const consumer = /messaging_consumer_group_name="([^"]*)"/.exec(line)?.[1]
    const value = Number(line.slice(line.lastIndexOf(" ") + 1))
    if (consumer !== undefined) counts[consumer] = (counts[consumer] ?? 0) + value
  }
  return counts
}
