/**
 * A checkout saga of three steps (stock, payment, shipping) and the services
 * that answer its commands, scripted per order.
 */
import { EventLog, Message, Topology } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Saga } from "../src/index.ts"

const Order = Schema.Struct({ orderId: Schema.String })

export const OrderPlaced = Message.event("shop.OrderPlaced", Schema.Struct({ orderId: Schema.String, total: Schema.Number }))

export const ReserveStock = Message.command("stock.Reserve", Order)
export const StockReserved = Message.event("stock.Reserved", Schema.Struct({ orderId: Schema.String, reservation: Schema.String }))
export const StockUnavailable = Message.event("stock.Unavailable", Order)
export const ReleaseStock = Message.command("stock.Release", Schema.Struct({ orderId: Schema.String, reservation: Schema.String }))
export const StockReleased = Message.event("stock.Released", Order)

export const ChargePayment = Message.command("payments.Charge", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))
export const PaymentCharged = Message.event("payments.Charged", Order)
export const PaymentDeclined = Message.event("payments.Declined", Order)
export const RefundPayment = Message.command("payments.Refund", Order)
export const PaymentRefunded = Message.event("payments.Refunded", Order)
export const RefundFailed = Message.event("payments.RefundFailed", Order)

export const ShipOrder = Message.command("shipping.Ship", Order)
export const OrderShipped = Message.event("shipping.Shipped", Order)
export const ShippingFailed = Message.event("shipping.Failed", Order)

export const OrderConfirmed = Message.event("shop.OrderConfirmed", Order)
export const OrderCancelled = Message.event("shop.OrderCancelled", Schema.Struct({ orderId: Schema.String, reason: Schema.String }))

export const stream = "SHOP"

export interface CheckoutOptions {
  readonly name?: string
  readonly paymentTimeout?: Duration.Input | undefined
  readonly compensationAttempts?: number | undefined
  /** The backoff of a failed compensation: attempt × this many milliseconds (default 1000). */
  readonly backoffUnit?: number | undefined
}

export const checkout = (options?: CheckoutOptions) =>
  Saga.steps({
    name: options?.name ?? "checkout",
    start: OrderPlaced,
    compensationAttempts: options?.compensationAttempts ?? 3,
    compensationBackoff: (attempt) => Duration.millis(attempt * (options?.backoffUnit ?? 1000)),
    steps: (step) => [
      step({
        name: "stock",
        send: (ctx) => Saga.send("shop.cmd.stock.reserve", ReserveStock, { orderId: ctx.start.orderId }),
        succeeded: StockReserved,
        failed: StockUnavailable,
        compensate: (ctx) =>
          Saga.send("shop.cmd.stock.release", ReleaseStock, {
            orderId: ctx.start.orderId,
            reservation: ctx.result(StockReserved)?.reservation ?? "none"
          }),
        compensated: StockReleased
      }),
      step({
        name: "payment",
        send: (ctx) => Saga.send("shop.cmd.payments.charge", ChargePayment, { orderId: ctx.start.orderId, amount: ctx.start.total }),
        succeeded: PaymentCharged,
        failed: PaymentDeclined,
        compensate: (ctx) => Saga.send("shop.cmd.payments.refund", RefundPayment, { orderId: ctx.start.orderId }),
        compensated: PaymentRefunded,
        compensationFailed: RefundFailed,
        timeout: options?.paymentTimeout
      }),
      step({
        name: "shipping",
        send: (ctx) => Saga.send("shop.cmd.shipping.ship", ShipOrder, { orderId: ctx.start.orderId }),
        succeeded: OrderShipped,
        failed: ShippingFailed
      })
    ],
    completed: (ctx) => [Saga.publish("shop.evt.orders.confirmed", OrderConfirmed, { orderId: ctx.start.orderId })],
    compensationEnded: (ctx, outcome) => [
      Saga.publish("shop.evt.orders.cancelled", OrderCancelled, { orderId: ctx.start.orderId, reason: outcome.reason })
    ]
  })

export const topology = (options?: {
  readonly ackWait?: Duration.Input
  readonly maxDeliver?: number
  readonly sagaConsumer?: string
  readonly duplicateWindow?: Duration.Input
}) =>
  Topology.ensure({
    streams: [
      { name: stream, subjects: ["shop.>"], duplicateWindow: options?.duplicateWindow ?? "2 minutes" },
      Topology.deadLetterStream()
    ],
    consumers: [
      {
        stream,
        name: options?.sagaConsumer ?? "checkout",
        filterSubject: "shop.evt.>",
        ...(options?.ackWait === undefined ? {} : { ackWait: options.ackWait }),
        maxDeliver: options?.maxDeliver ?? 20
      },
      { stream, name: "services", filterSubject: "shop.cmd.>", maxDeliver: 20 }
    ]
  })

/** How a service answers an order's commands. */
export interface Script {
  /** The step that fails (its failure event). */
  readonly failAt?: "stock" | "payment" | "shipping" | undefined
  /** The step whose command gets no answer. */
  readonly silentAt?: "payment" | undefined
  /** How many refunds fail before one succeeds (Infinity: all). */
  readonly refundFailures?: number | undefined
}

export interface Received {
  readonly type: string
  readonly orderId: string
  readonly messageId: string
  readonly correlationId: string
  readonly causationId: string
}

/** Runs the services: each command answered by its event, caused by the command. */
export const services = (
  script: (orderId: string) => Script,
  received: Array<Received>
): Effect.Effect<EventLog.ConsumerHandle, unknown, EventLog.EventLog | Scope.Scope> =>
  Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const refunds = new Map<string, number>()
    return yield* log.consume(stream, "services", (delivery) =>
      Effect.gen(function*() {
        const command = delivery.envelope
        const { orderId } = JSON.parse(new TextDecoder().decode(command.body)) as { orderId: string }
        received.push({
          type: command.type,
          orderId,
          messageId: command.identity.messageId,
          correlationId: command.identity.correlationId,
          causationId: command.identity.causationId
        })
        const s = script(orderId)
        const reply = <D extends Message.Any>(subject: string, def: D, payload: Message.Payload<D>) =>
          Effect.flatMap(def.causedBy(command, payload), (e) => log.append(subject, e))
        switch (command.type) {
          case ReserveStock.type:
            return yield* s.failAt === "stock"
              ? reply("shop.evt.stock.unavailable", StockUnavailable, { orderId })
              : reply("shop.evt.stock.reserved", StockReserved, { orderId, reservation: `r-${orderId}` })
          case ChargePayment.type:
            if (s.silentAt === "payment") return
            return yield* s.failAt === "payment"
              ? reply("shop.evt.payments.declined", PaymentDeclined, { orderId })
              : reply("shop.evt.payments.charged", PaymentCharged, { orderId })
          case ShipOrder.type:
            return yield* s.failAt === "shipping"
              ? reply("shop.evt.shipping.failed", ShippingFailed, { orderId })
              : reply("shop.evt.shipping.shipped", OrderShipped, { orderId })
          case ReleaseStock.type:
            return yield* reply("shop.evt.stock.released", StockReleased, { orderId })
          case RefundPayment.type: {
            const failed = refunds.get(orderId) ?? 0
            if (failed < (s.refundFailures ?? 0)) {
              refunds.set(orderId, failed + 1)
              return yield* reply("shop.evt.payments.refund-failed", RefundFailed, { orderId })
            }
            return yield* reply("shop.evt.payments.refunded", PaymentRefunded, { orderId })
          }
        }
      }), { concurrency: 4 })
  })
