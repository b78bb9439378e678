/**
 * The order service: the only writer of the `orders` table.
 *
 * `place` writes the order and its `OrderPlaced` event in one transaction
 * (the event goes through the outbox: if the transaction rolls back, no
 * event; if it commits, the relay appends it). `OrderPlaced` is the root of
 * the order's flow: its correlation id is the flow's, and the checkout saga's
 * instance id. The service then takes `ShipOrder` and `CancelOrder` behind
 * the inbox and answers `OrderShipped` / `OrderCancelled`.
 */
import type { IdGenerator } from "@herald/identity"
import type { InboxError, InboxStore } from "@herald/inbox"
import { Outbox, type OutboxError } from "@herald/outbox"
import { type EventLog, type Message, Middleware, type TransportError } from "@herald/transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type CommandStats, consume } from "./Guarded.ts"
import { CancelOrder, consumers, OrderCancelled, OrderPlaced, OrderShipped, ShipOrder, subjects } from "./Messages.ts"

/** What a customer asks for. */
export interface NewOrder {
  readonly customer: string
  readonly sku: string
  readonly quantity: number
  /** In cents. */
  readonly amount: number
}

export type OrderStatus = "placed" | "shipped" | "cancelled"

export interface Order extends NewOrder {
  readonly orderId: string
  readonly status: OrderStatus
  /** Why it was cancelled. */
  readonly reason: string | null
  /** The correlation id of the order's flow (`herald tree` takes it). */
  readonly correlationId: string
}

export class OrderService extends Context.Service<OrderService, {
  /** Places an order: the row and its `OrderPlaced` commit together. */
  readonly place: (
    order: NewOrder
  ) => Effect.Effect<Order, SqlError | OutboxError.OutboxError | TransportError.TransportError>
  readonly orders: Effect.Effect<ReadonlyArray<Order>, SqlError>
  readonly stats: Effect.Effect<CommandStats, InboxError.InboxError>
}>()("example-orders/OrderService") {}

type OrderRow = {
  readonly id: string
  readonly order_number: number
  readonly customer: string
  readonly sku: string
  readonly quantity: number
  readonly amount: number
  readonly status: string
  readonly reason: string | null
  readonly correlation_id: string
}

const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    order_number INTEGER NOT NULL UNIQUE,
    customer TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    correlation_id TEXT NOT NULL
  )`
})

const fromRow = (r: OrderRow): Order => ({
  orderId: r.id,
  customer: r.customer,
  sku: r.sku,
  quantity: Number(r.quantity),
  amount: Number(r.amount),
  status: r.status as OrderStatus,
  reason: r.reason,
  correlationId: r.correlation_id
})

const ship = (command: Message.Payload<typeof ShipOrder>, incoming: EventLog.Delivery) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* sql`UPDATE orders SET status = 'shipped' WHERE id = ${command.orderId} AND status = 'placed'`
    const shipped = yield* OrderShipped.causedBy(incoming.envelope, command)
    yield* Outbox.publish(subjects.orderShipped, shipped, { partitionKey: command.orderId })
  })

const cancel = (command: Message.Payload<typeof CancelOrder>, incoming: EventLog.Delivery) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* sql`UPDATE orders SET status = 'cancelled', reason = ${command.reason}
      WHERE id = ${command.orderId} AND status = 'placed'`
    const cancelled = yield* OrderCancelled.causedBy(incoming.envelope, command)
    yield* Outbox.publish(subjects.orderCancelled, cancelled, { partitionKey: command.orderId })
  })

/** The service; takes `ShipOrder` and `CancelOrder` for the layer's lifetime. */
export const layer: Layer.Layer<
  OrderService,
  SqlError | TransportError.TransportError,
  SqlClient | EventLog.EventLog | InboxStore.InboxStore | Outbox.Outbox | IdGenerator.IdGenerator
> = Layer.effect(OrderService)(Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* migrate
  const stats = yield* consume(consumers.orders, [
    Middleware.route(ShipOrder, ship),
    Middleware.route(CancelOrder, cancel)
  ])
  const services = yield* Effect.context<Outbox.Outbox | IdGenerator.IdGenerator>()

  const place = (order: NewOrder) =>
    sql.withTransaction(Effect.gen(function*() {
      // Order numbers continue from the table, so a database kept between
      // runs gets new orders rather than conflicts.
      const [last] = yield* sql<{ readonly n: number | null }>`SELECT MAX(order_number) AS n FROM orders`
      const number = Number(last?.n ?? 0) + 1
      const orderId = `order-${number}`
      const placed = yield* OrderPlaced.root({ orderId, ...order })
      const correlationId = placed.identity.correlationId
      yield* sql`INSERT INTO orders ${
        sql.insert({ id: orderId, order_number: number, ...order, status: "placed", reason: null, correlation_id: correlationId })
      }`
      yield* Outbox.publish(subjects.orderPlaced, placed, { partitionKey: orderId })
      return { orderId, ...order, status: "placed", reason: null, correlationId } satisfies Order
    })).pipe(Effect.provideContext(services))

  return {
    place,
    orders: Effect.map(
      sql<OrderRow>`SELECT id, order_number, customer, sku, quantity, amount, status, reason, correlation_id
        FROM orders ORDER BY order_number`,
      (rows) => rows.map(fromRow)
    ),
    stats
  }
}))
