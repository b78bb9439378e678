/**
 * The payment service: charges and refunds orders against the customers'
 * cards. `ChargePayment` is charged when the card's limit covers it and
 * declined when not; a card that needs the customer to authenticate the
 * payment (3-D Secure) holds it and answers nothing until the customer does,
 * which in this example never happens: the checkout saga's timeout then
 * cancels the order. `RefundPayment` refunds a charged payment.
 *
 * Each command runs behind the inbox: the payment row, the event written to
 * the outbox and the inbox record commit together, so a command delivered
 * twice charges once.
 */
import type { InboxError, InboxStore } from "@herald/inbox"
import { Outbox } from "@herald/outbox"
import type { IdGenerator } from "@herald/identity"
import { type EventLog, type Message, Middleware, type TransportError } from "@herald/transport"
import type { SqlError } from "effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SqlClient } from "effect/sql/SqlClient"
import { type CommandStats, consume } from "./Guarded.ts"
import {
  ChargePayment,
  consumers,
  PaymentCharged,
  PaymentDeclined,
  PaymentRefunded,
  RefundPayment,
  subjects
} from "./Messages.ts"

/** A customer's card. */
export interface Card {
  readonly customer: string
  /** The most one payment may be, in cents. */
  readonly limit: number
  /** Whether the customer must authenticate each payment (3-D Secure). */
  readonly authenticate: boolean
}

export type PaymentStatus = "charged" | "declined" | "refunded" | "awaiting authentication"

export interface Payment {
  readonly orderId: string
  readonly customer: string
  readonly amount: number
  readonly status: PaymentStatus
}

export class PaymentService extends Context.Service<PaymentService, {
  readonly payments: Effect.Effect<ReadonlyArray<Payment>, SqlError>
  readonly stats: Effect.Effect<CommandStats, InboxError.InboxError>
}>()("example-orders/PaymentService") {}

type PaymentRow = {
  readonly order_id: string
  readonly customer: string
  readonly amount: number
  readonly status: string
}

const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS payment_cards (
    customer TEXT PRIMARY KEY,
    credit_limit INTEGER NOT NULL,
    authenticate INTEGER NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS payments (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL
  )`
})

const charge = (command: Message.Payload<typeof ChargePayment>, incoming: EventLog.Delivery) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const [card] = yield* sql<{ readonly credit_limit: number; readonly authenticate: number }>`
      SELECT credit_limit, authenticate FROM payment_cards WHERE customer = ${command.customer}`
    const row = (status: PaymentStatus) =>
      sql`INSERT INTO payments ${sql.insert({ order_id: command.orderId, customer: command.customer, amount: command.amount, status })}`
    if (card === undefined || command.amount > Number(card.credit_limit)) {
      yield* row("declined")
      const reason = card === undefined ? "no card on file" : "over the card's limit"
      const declined = yield* PaymentDeclined.causedBy(incoming.envelope, { orderId: command.orderId, reason })
      return yield* Outbox.publish(subjects.paymentDeclined, declined, { partitionKey: command.orderId })
    }
    if (Number(card.authenticate) === 1) {
      // Held until the customer authenticates it: no answer yet.
      return yield* row("awaiting authentication")
    }
    yield* row("charged")
    const charged = yield* PaymentCharged.causedBy(incoming.envelope, { orderId: command.orderId, amount: command.amount })
    yield* Outbox.publish(subjects.paymentCharged, charged, { partitionKey: command.orderId })
  })

const refund = (command: Message.Payload<typeof RefundPayment>, incoming: EventLog.Delivery) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const rows = yield* sql<{ readonly amount: number }>`
      UPDATE payments SET status = 'refunded' WHERE order_id = ${command.orderId} AND status = 'charged'
      RETURNING amount`
    const amount = rows.length === 0 ? 0 : Number(rows[0]!.amount)
    const refunded = yield* PaymentRefunded.causedBy(incoming.envelope, { orderId: command.orderId, amount })
    yield* Outbox.publish(subjects.paymentRefunded, refunded, { partitionKey: command.orderId })
  })

/** The service with its cards; takes `ChargePayment` and `RefundPayment` for the layer's lifetime. */
export const layer = (cards: ReadonlyArray<Card>): Layer.Layer<
  PaymentService,
  SqlError | TransportError.TransportError,
  SqlClient | EventLog.EventLog | InboxStore.InboxStore | Outbox.Outbox | IdGenerator.IdGenerator
> =>
  Layer.effect(PaymentService)(Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* migrate
    for (const card of cards) {
      const values = { customer: card.customer, credit_limit: card.limit, authenticate: card.authenticate ? 1 : 0 }
      yield* sql`INSERT INTO payment_cards ${sql.insert(values)}
        ON CONFLICT (customer) DO UPDATE SET credit_limit = ${values.credit_limit}, authenticate = ${values.authenticate}`
    }
    const stats = yield* consume(consumers.payments, [
      Middleware.route(ChargePayment, charge),
      Middleware.route(RefundPayment, refund)
    ])
    return {
      payments: Effect.map(
        sql<PaymentRow>`SELECT order_id, customer, amount, status FROM payments ORDER BY order_id`,
        (rows) =>
          rows.map((r) => ({ orderId: r.order_id, customer: r.customer, amount: Number(r.amount), status: r.status as PaymentStatus }))
      ),
      stats
    }
  }))
