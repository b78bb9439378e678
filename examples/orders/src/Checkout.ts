/**
 * The checkout saga: the process between the services, one instance per
 * order (its id is the flow's correlation id).
 *
 *   OrderPlaced → ChargePayment → ReserveStock → ShipOrder → completed
 *
 * A step that fails (`PaymentDeclined`, `OutOfStock`) or times out (no
 * answer to `ChargePayment` within `paymentTimeout`) compensates the steps
 * completed before it in reverse order (the payment is refunded, and the
 * refund confirmed by `PaymentRefunded`), then the order is cancelled with
 * the reason. Shipping cannot fail in this example, so the stock step has
 * nothing to undo.
 *
 * Each message is one transition of the saga's store (SQL here): its state,
 * the record that the message was processed, the commands it sends (through
 * the outbox) and its timeouts commit together.
 */
import { Saga } from "@herald/saga"
import type * as Duration from "effect/Duration"
import {
  CancelOrder,
  ChargePayment,
  OrderPlaced,
  OrderShipped,
  OutOfStock,
  PaymentCharged,
  PaymentDeclined,
  PaymentRefunded,
  RefundPayment,
  ReserveStock,
  ShipOrder,
  StockReserved,
  subjects
} from "./Messages.ts"

export const name = "checkout"

/** Why an order was cancelled, from the step that ended the run. */
export const cancelReason = (reason: string): string => {
  if (reason.startsWith("payment timed out")) return "payment timeout"
  if (reason.startsWith("payment failed")) return "payment declined"
  if (reason.startsWith("stock failed")) return "out of stock"
  return reason
}

export interface Options {
  /** How long the payment service may take to answer `ChargePayment`. */
  readonly paymentTimeout: Duration.Input
}

export const make = (options: Options) =>
  Saga.steps({
    name,
    start: OrderPlaced,
    steps: (step) => [
      step({
        name: "payment",
        send: ({ start }) =>
          Saga.send(subjects.chargePayment, ChargePayment, {
            orderId: start.orderId,
            customer: start.customer,
            amount: start.amount
          }),
        succeeded: PaymentCharged,
        failed: PaymentDeclined,
        compensate: ({ start }) => Saga.send(subjects.refundPayment, RefundPayment, { orderId: start.orderId }),
        compensated: PaymentRefunded,
        timeout: options.paymentTimeout
      }),
      step({
        name: "stock",
        send: ({ start }) =>
          Saga.send(subjects.reserveStock, ReserveStock, { orderId: start.orderId, sku: start.sku, quantity: start.quantity }),
        succeeded: StockReserved,
        failed: OutOfStock
      }),
      step({
        name: "shipping",
        send: ({ start }) => Saga.send(subjects.shipOrder, ShipOrder, { orderId: start.orderId }),
        succeeded: OrderShipped
      })
    ],
    // Once every compensation is confirmed: cancel the order, last.
    compensationEnded: ({ start }, outcome) => [
      Saga.send(subjects.cancelOrder, CancelOrder, { orderId: start.orderId, reason: cancelReason(outcome.reason) })
    ],
    timeoutSubject: subjects.sagaTimeout
  })
