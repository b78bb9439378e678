/**
 * The read model: one row per order with what happened to it, built only
 * from the events in the stream by a projection. Its checkpoint commits
 * with its rows (one transaction per batch), so each event is applied once;
 * and since it is nothing but the events folded in order, it can be thrown
 * away and rebuilt by replaying the stream (`rebuild`), ending equal.
 *
 * An order id seen again (a database started afresh beside a stream that
 * kept an earlier run) starts its row again.
 *
 * The projection is kept current by catching up every `pollInterval`;
 * `rebuild` takes the same lock, so the two never run at once.
 */
import { type Checkpoint, Projection, ProjectionRunner, type ReplayError } from "@herald/replay"
import { EventLog, Middleware, type TransportError } from "@herald/transport"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import {
  OrderCancelled,
  OrderPlaced,
  OrderShipped,
  OutOfStock,
  PaymentCharged,
  PaymentDeclined,
  PaymentRefunded,
  StockReserved,
  stream
} from "./Messages.ts"

export const name = "order-view"

/** One order as the read model shows it. */
export interface OrderSummary {
  readonly orderId: string
  readonly customer: string
  readonly sku: string
  readonly quantity: number
  readonly amount: number
  /** `placed`, `shipped` or `cancelled`. */
  readonly status: string
  /** `pending`, `charged`, `declined` or `refunded`. */
  readonly payment: string
  /** `pending`, `reserved` or `out of stock`. */
  readonly stock: string
  readonly cancelReason: string | null
}

type Row = {
  readonly order_id: string
  readonly customer: string
  readonly sku: string
  readonly quantity: number
  readonly amount: number
  readonly status: string
  readonly payment: string
  readonly stock: string
  readonly cancel_reason: string | null
}

const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS order_view (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    payment TEXT NOT NULL,
    stock TEXT NOT NULL,
    cancel_reason TEXT
  )`
})

const set = (orderId: string, column: "status" | "payment" | "stock", value: string) =>
  Effect.flatMap(SqlClient, (sql) => sql`UPDATE order_view SET ${sql(column)} = ${value} WHERE order_id = ${orderId}`)

const apply = Middleware.router([
  Middleware.route(OrderPlaced, (placed) =>
    Effect.flatMap(SqlClient, (sql) =>
      sql`INSERT INTO order_view ${
        sql.insert({
          order_id: placed.orderId,
          customer: placed.customer,
          sku: placed.sku,
          quantity: placed.quantity,
          amount: placed.amount,
          status: "placed",
          payment: "pending",
          stock: "pending",
          cancel_reason: null
        })
      }
      ON CONFLICT (order_id) DO UPDATE SET customer = ${placed.customer}, sku = ${placed.sku},
        quantity = ${placed.quantity}, amount = ${placed.amount}, status = 'placed', payment = 'pending',
        stock = 'pending', cancel_reason = NULL`)),
  Middleware.route(PaymentCharged, (e) => set(e.orderId, "payment", "charged")),
  Middleware.route(PaymentDeclined, (e) => set(e.orderId, "payment", "declined")),
  Middleware.route(PaymentRefunded, (e) => set(e.orderId, "payment", "refunded")),
  Middleware.route(StockReserved, (e) => set(e.orderId, "stock", "reserved")),
  Middleware.route(OutOfStock, (e) => set(e.orderId, "stock", "out of stock")),
  Middleware.route(OrderShipped, (e) => set(e.orderId, "status", "shipped")),
  Middleware.route(OrderCancelled, (e) =>
    Effect.flatMap(SqlClient, (sql) =>
      sql`UPDATE order_view SET status = 'cancelled', cancel_reason = ${e.reason} WHERE order_id = ${e.orderId}`))
], { onUnknown: () => Effect.void })

/** The projection: every event of the stream (commands and timeouts are skipped). */
export const projection = Projection.make({
  name,
  filter: "orders.evt.>",
  handle: (message: EventLog.StoredMessage) => apply(message),
  reset: Effect.flatMap(SqlClient, (sql) => sql`DELETE FROM order_view`)
})

type Failure = SqlError | TransportError.TransportError | ReplayError.ReplayError

export class OrderView extends Context.Service<OrderView, {
  readonly orders: Effect.Effect<ReadonlyArray<OrderSummary>, SqlError>
  /** The projection's checkpoint beside the stream (lag 0: every event applied). */
  readonly status: Effect.Effect<ProjectionRunner.Status, ReplayError.ReplayError | TransportError.TransportError>
  /** Applies what is new now, without waiting for the next poll. */
  readonly catchUp: Effect.Effect<ProjectionRunner.Stats, Failure>
  /** Empties the read model and replays the stream into it; answers once it is at the head. */
  readonly rebuild: Effect.Effect<ProjectionRunner.Stats, Failure>
}>()("example-orders/OrderView") {}

export const layer = (options: { readonly pollInterval: Duration.Input }): Layer.Layer<
  OrderView,
  SqlError,
  SqlClient | EventLog.EventLog | Checkpoint.CheckpointStore
> =>
  Layer.effect(OrderView)(Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* migrate
    const context = yield* Effect.context<SqlClient | EventLog.EventLog | Checkpoint.CheckpointStore>()
    const lock = yield* Semaphore.make(1)
    const runner = { stream }

    const catchUp = lock.withPermits(1)(ProjectionRunner.catchUp(projection, runner)).pipe(Effect.provideContext(context))
    const rebuild = lock.withPermits(1)(Effect.scoped(Effect.gen(function*() {
      const handle = yield* ProjectionRunner.rebuild(projection, runner)
      const done = yield* handle.changes.pipe(
        Stream.filter((s) => s.caughtUp && !s.rebuilding),
        Stream.runHead
      )
      return done._tag === "Some" ? done.value : yield* handle.stats
    }))).pipe(Effect.provideContext(context))

    // Live: catch up now and every pollInterval; a failure is logged and
    // tried again at the next poll.
    yield* catchUp.pipe(
      Effect.tapCause((cause) => Effect.logWarning("order view: catch-up failed", cause)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(options.pollInterval)),
      Effect.forkScoped
    )

    return {
      orders: Effect.map(
        sql<Row>`SELECT order_id, customer, sku, quantity, amount, status, payment, stock, cancel_reason
          FROM order_view ORDER BY order_id`,
        (rows) =>
          rows.map((r) => ({
            orderId: r.order_id,
            customer: r.customer,
            sku: r.sku,
            quantity: Number(r.quantity),
            amount: Number(r.amount),
            status: r.status,
            payment: r.payment,
            stock: r.stock,
            cancelReason: r.cancel_reason
          }))
      ),
      status: ProjectionRunner.status(projection, runner).pipe(Effect.provideContext(context)),
      catchUp,
      rebuild
    }
  }))
