/**
 * The inventory service: reserves stock for orders. `ReserveStock` takes the
 * quantity from what is available and records the reservation, or answers
 * `OutOfStock` when there is not enough. Behind the inbox, like every
 * service: a command delivered twice reserves once.
 */
import type { InboxError, InboxStore } from "@herald/inbox"
import type { IdGenerator } from "@herald/identity"
import { Outbox } from "@herald/outbox"
import { type EventLog, type Message, Middleware, type TransportError } from "@herald/transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type CommandStats, consume } from "./Guarded.ts"
import { consumers, OutOfStock, ReserveStock, StockReserved, subjects } from "./Messages.ts"

/** What a SKU has on the shelf. */
export interface Stock {
  readonly sku: string
  readonly available: number
  readonly reserved: number
}

export interface Reservation {
  readonly orderId: string
  readonly sku: string
  readonly quantity: number
}

export class InventoryService extends Context.Service<InventoryService, {
  readonly stock: Effect.Effect<ReadonlyArray<Stock>, SqlError>
  readonly reservations: Effect.Effect<ReadonlyArray<Reservation>, SqlError>
  readonly stats: Effect.Effect<CommandStats, InboxError.InboxError>
}>()("example-orders/InventoryService") {}

const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS stock (
    sku TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS stock_reservations (
    order_id TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL
  )`
})

const reserve = (command: Message.Payload<typeof ReserveStock>, incoming: EventLog.Delivery) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    // One statement decides: it takes the quantity only if it is there.
    const taken = yield* sql<{ readonly available: number }>`
      UPDATE stock SET available = available - ${command.quantity}, reserved = reserved + ${command.quantity}
      WHERE sku = ${command.sku} AND available >= ${command.quantity}
      RETURNING available`
    if (taken.length === 0) {
      const rows = yield* sql<{ readonly available: number }>`SELECT available FROM stock WHERE sku = ${command.sku}`
      const out = yield* OutOfStock.causedBy(incoming.envelope, {
        orderId: command.orderId,
        sku: command.sku,
        requested: command.quantity,
        available: rows.length === 0 ? 0 : Number(rows[0]!.available)
      })
      return yield* Outbox.publish(subjects.outOfStock, out, { partitionKey: command.orderId })
    }
    yield* sql`INSERT INTO stock_reservations ${
      sql.insert({ order_id: command.orderId, sku: command.sku, quantity: command.quantity })
    }`
    const reserved = yield* StockReserved.causedBy(incoming.envelope, command)
    yield* Outbox.publish(subjects.stockReserved, reserved, { partitionKey: command.orderId })
  })

/**
 * The service, its shelves restocked to `stock` (available; nothing
 * reserved); takes `ReserveStock` for the layer's lifetime.
 */
export const layer = (stock: ReadonlyArray<{ readonly sku: string; readonly available: number }>): Layer.Layer<
  InventoryService,
  SqlError | TransportError.TransportError,
  SqlClient | EventLog.EventLog | InboxStore.InboxStore | Outbox.Outbox | IdGenerator.IdGenerator
> =>
  Layer.effect(InventoryService)(Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* migrate
    for (const { available, sku } of stock) {
      yield* sql`INSERT INTO stock ${sql.insert({ sku, available, reserved: 0 })}
        ON CONFLICT (sku) DO UPDATE SET available = ${available}, reserved = 0`
    }
    const stats = yield* consume(consumers.inventory, [Middleware.route(ReserveStock, reserve)])
    return {
      stock: Effect.map(
        sql<Stock>`SELECT sku, available, reserved FROM stock ORDER BY sku`,
        (rows) => rows.map((r) => ({ sku: r.sku, available: Number(r.available), reserved: Number(r.reserved) }))
      ),
      reservations: Effect.map(
        sql<{ readonly order_id: string; readonly sku: string; readonly quantity: number }>`
          SELECT order_id, sku, quantity FROM stock_reservations ORDER BY order_id`,
        (rows) => rows.map((r) => ({ orderId: r.order_id, sku: r.sku, quantity: Number(r.quantity) }))
      ),
      stats
    }
  }))
