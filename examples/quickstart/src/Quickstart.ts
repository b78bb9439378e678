/**
 * The quickstart flow, written against the transport contracts only, so it
 * runs unchanged on the in-memory transport and on NATS:
 *
 * 1. a `PlaceOrder` command is appended to the `SHOP` stream;
 * 2. the orders consumer handles it and appends `OrderPlaced`, caused by it;
 * 3. the inventory consumer handles that and appends `StockReserved`;
 * 4. the shipping consumer handles that and appends `ShipmentScheduled`;
 * 5. a `GetOrderStatus` query (caused by the command) is answered over
 *    request/reply with an `OrderStatus` reply;
 * 6. the flow's messages are read back and arranged in their causation tree.
 */
import { CausationTree } from "@herald/identity"
import { Namespace } from "@herald/subject"
import { Bus, type Envelope, EventLog, Message, Middleware, Topology, TransportError } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// Subjects follow {env}.{app}.{kind}.{aggregate}.{action}.
export const shop = Namespace.makeUnsafe({ env: "dev", app: "shop" })

export const subjects = {
  placeOrder: shop.subjectUnsafe("command", "order", "place"),
  orderPlaced: shop.subjectUnsafe("event", "order", "placed"),
  stockReserved: shop.subjectUnsafe("event", "inventory", "reserved"),
  shipmentScheduled: shop.subjectUnsafe("event", "shipping", "scheduled"),
  orderStatus: shop.subjectUnsafe("query", "order", "status")
} as const

export const PlaceOrder = Message.command(
  "PlaceOrder",
  Schema.Struct({ orderId: Schema.String, sku: Schema.String, quantity: Schema.Number })
)
export const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String, total: Schema.Number }))
export const StockReserved = Message.event(
  "StockReserved",
  Schema.Struct({ orderId: Schema.String, sku: Schema.String, quantity: Schema.Number })
)
export const ShipmentScheduled = Message.event(
  "ShipmentScheduled",
  Schema.Struct({ orderId: Schema.String, carrier: Schema.String })
)
export const GetOrderStatus = Message.query("GetOrderStatus", Schema.Struct({ orderId: Schema.String }))
export const OrderStatus = Message.reply("OrderStatus", Schema.Struct({ orderId: Schema.String, status: Schema.String }))

export const topology: Topology.Declaration = {
  streams: [
    { name: "SHOP", subjects: [shop.patternUnsafe({ kind: "command" }), shop.patternUnsafe({ kind: "event" })] },
    Topology.deadLetterStream()
  ],
  consumers: [
    { stream: "SHOP", name: "orders", filterSubject: subjects.placeOrder, maxDeliver: 5 },
    { stream: "SHOP", name: "inventory", filterSubject: subjects.orderPlaced, maxDeliver: 5 },
    { stream: "SHOP", name: "shipping", filterSubject: subjects.stockReserved, maxDeliver: 5 }
  ]
}

/** What the flow produced. */
export interface Result {
  readonly status: string
  readonly messages: ReadonlyArray<Envelope.Envelope>
  readonly tree: CausationTree.CausationTree<Envelope.Envelope>
  readonly rendered: string
}

const label = (e: Envelope.Envelope) => `${e.kind} ${e.type} (${e.identity.messageId})`

export const program = Effect.scoped(Effect.gen(function*() {
  const bus = yield* Bus.Bus
  const log = yield* EventLog.EventLog
  yield* Topology.ensure(topology)

  const statuses = yield* Ref.make(new Map<string, string>())
  const shipped = yield* Deferred.make<void>()

  // Each handler decodes its command or event (a body that does not match its
  // Schema is a non-retryable DecodeError: dead-lettered, never retried) and
  // appends what it causes, with an identity derived from the delivery's.
  yield* log.consume(
    "SHOP",
    "orders",
    Middleware.decode(PlaceOrder, (cmd, delivery) =>
      Effect.gen(function*() {
        yield* Ref.update(statuses, (m) => new Map(m).set(cmd.orderId, "placed"))
        const placed = yield* OrderPlaced.causedBy(delivery.envelope, { orderId: cmd.orderId, total: cmd.quantity * 25 })
        yield* log.append(subjects.orderPlaced, placed)
      }))
  )

  yield* log.consume(
    "SHOP",
    "inventory",
    Middleware.decode(OrderPlaced, (event, delivery) =>
      Effect.gen(function*() {
        yield* Ref.update(statuses, (m) => new Map(m).set(event.orderId, "reserved"))
        const reserved = yield* StockReserved.causedBy(delivery.envelope, {
          orderId: event.orderId,
          sku: "sku-1",
          quantity: event.total / 25
        })
        yield* log.append(subjects.stockReserved, reserved)
      }))
  )

  yield* log.consume(
    "SHOP",
    "shipping",
    Middleware.decode(StockReserved, (event, delivery) =>
      Effect.gen(function*() {
        yield* Ref.update(statuses, (m) => new Map(m).set(event.orderId, "shipping"))
        const scheduled = yield* ShipmentScheduled.causedBy(delivery.envelope, { orderId: event.orderId, carrier: "post" })
        yield* log.append(subjects.shipmentScheduled, scheduled)
        yield* Deferred.succeed(shipped, undefined)
      }))
  )

  // A responder answers status queries over request/reply.
  yield* bus.serve(subjects.orderStatus, (request) =>
    Effect.gen(function*() {
      const query = yield* GetOrderStatus.decode(request.envelope)
      const status = (yield* Ref.get(statuses)).get(query.orderId) ?? "unknown"
      return yield* OrderStatus.causedBy(request.envelope, { orderId: query.orderId, status })
    }))

  // The client: send the command, wait for the flow, ask for the status.
  const command = yield* PlaceOrder.root({ orderId: "order-1", sku: "sku-1", quantity: 2 })
  yield* log.append(subjects.placeOrder, command)
  yield* Deferred.await(shipped).pipe(
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () => Effect.fail(TransportError.make(new TransportError.Timeout({ operation: "the order flow", millis: 10_000 })))
    })
  )
  const query = yield* GetOrderStatus.causedBy(command, { orderId: "order-1" })
  const reply = yield* bus.request(subjects.orderStatus, query, { timeout: "5 seconds" })
  const { status } = yield* OrderStatus.decode(reply)

  // Everything the flow stored, plus the query and its reply.
  const stored = yield* log.read("SHOP").pipe(Stream.map((m) => m.envelope), Stream.runCollect)
  const messages = [...stored, query, reply].filter((e) => e.identity.correlationId === command.identity.correlationId)
  const tree = CausationTree.make(messages, (e) => e.identity)
  return { status, messages, tree, rendered: CausationTree.render(tree, label) } satisfies Result
}))
