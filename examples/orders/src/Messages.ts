/**
 * The contract between the services: every message they exchange, the
 * subjects they travel on, and the stream and consumers that carry them.
 *
 * Subjects are `orders.<kind>.<service>.<action>`: the commands a service
 * accepts are under `orders.cmd.<service>.>`, the events anyone may read
 * under `orders.evt.>`. One stream, `ORDERS`, holds them all, so that
 * `herald tail 'orders.>'` shows a whole flow.
 */
import { Topology } from "@herald/transport"
import { Message } from "@herald/transport"
import * as Schema from "effect/Schema"

export const stream = "ORDERS"

export const subjects = {
  orderPlaced: "orders.evt.order.placed",
  orderShipped: "orders.evt.order.shipped",
  orderCancelled: "orders.evt.order.cancelled",
  shipOrder: "orders.cmd.order.ship",
  cancelOrder: "orders.cmd.order.cancel",
  chargePayment: "orders.cmd.payment.charge",
  refundPayment: "orders.cmd.payment.refund",
  paymentCharged: "orders.evt.payment.charged",
  paymentDeclined: "orders.evt.payment.declined",
  paymentRefunded: "orders.evt.payment.refunded",
  reserveStock: "orders.cmd.inventory.reserve",
  stockReserved: "orders.evt.inventory.reserved",
  outOfStock: "orders.evt.inventory.out-of-stock",
  /** Where the checkout saga publishes the timeouts it fires, so that a flow's tree shows them. */
  sagaTimeout: "orders.saga.checkout.timeout"
} as const

/** The durable consumers: one per service, the saga, and the correlation index. */
export const consumers = {
  orders: "orders",
  payments: "payments",
  inventory: "inventory",
  checkout: "checkout",
  index: "correlation-index"
} as const

const OrderId = Schema.Struct({ orderId: Schema.String })

// The order service
export const OrderPlaced = Message.event(
  "OrderPlaced",
  Schema.Struct({
    orderId: Schema.String,
    customer: Schema.String,
    sku: Schema.String,
    quantity: Schema.Number,
    /** In cents. */
    amount: Schema.Number
  })
)
export const ShipOrder = Message.command("ShipOrder", OrderId)
export const OrderShipped = Message.event("OrderShipped", OrderId)
export const CancelOrder = Message.command("CancelOrder", Schema.Struct({ orderId: Schema.String, reason: Schema.String }))
export const OrderCancelled = Message.event(
  "OrderCancelled",
  Schema.Struct({ orderId: Schema.String, reason: Schema.String })
)

// The payment service
export const ChargePayment = Message.command(
  "ChargePayment",
  Schema.Struct({ orderId: Schema.String, customer: Schema.String, amount: Schema.Number })
)
export const PaymentCharged = Message.event("PaymentCharged", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))
export const PaymentDeclined = Message.event(
  "PaymentDeclined",
  Schema.Struct({ orderId: Schema.String, reason: Schema.String })
)
export const RefundPayment = Message.command("RefundPayment", OrderId)
export const PaymentRefunded = Message.event("PaymentRefunded", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))

// The inventory service
export const ReserveStock = Message.command(
  "ReserveStock",
  Schema.Struct({ orderId: Schema.String, sku: Schema.String, quantity: Schema.Number })
)
export const StockReserved = Message.event(
  "StockReserved",
  Schema.Struct({ orderId: Schema.String, sku: Schema.String, quantity: Schema.Number })
)
export const OutOfStock = Message.event(
  "OutOfStock",
  Schema.Struct({ orderId: Schema.String, sku: Schema.String, requested: Schema.Number, available: Schema.Number })
)

export const topology: Topology.Declaration = {
  streams: [{ name: stream, subjects: ["orders.>"] }, Topology.deadLetterStream()],
  consumers: [
    { stream, name: consumers.orders, filterSubject: "orders.cmd.order.>", maxDeliver: 10 },
    { stream, name: consumers.payments, filterSubject: "orders.cmd.payment.>", maxDeliver: 10 },
    { stream, name: consumers.inventory, filterSubject: "orders.cmd.inventory.>", maxDeliver: 10 },
    { stream, name: consumers.checkout, filterSubject: "orders.evt.>", maxDeliver: 10 },
    { stream, name: consumers.index, maxDeliver: 10 }
  ]
}
