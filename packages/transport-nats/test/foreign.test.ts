/**
 * Services that do not speak Herald, both ways, against a real nats-server:
 * a raw nats.js 3 client publishes, requests, serves and appends plain JSON
 * (with or without the `X-*` headers), and reads what Herald sends.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { NatsServer, Wait } from "@herald/testing"
import { Bus, type Envelope, EventLog, Foreign, Message, Topology } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { headers as makeHeaders, type NatsConnection as RawConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { NatsConnection, NatsTransport } from "../src/index.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "foreign-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const Live = Layer.mergeAll(Nats, IdGenerator.layer)

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return { stream: `FO${id}`.toUpperCase(), prefix: `fo${id}`, consumer: `C${id}`.toUpperCase() }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const json = (value: unknown) => encoder.encode(JSON.stringify(value))

const OrderPlaced = Message.event("OrderPlaced", Schema.Struct({ orderId: Schema.String, n: Schema.Number }))
const GetStatus = Message.query("GetStatus", Schema.Struct({ orderId: Schema.String }))
const Status = Message.reply("Status", Schema.Struct({ orderId: Schema.String, status: Schema.String }))

/** A second, plain nats.js connection: the service that does not speak Herald. */
const raw = Effect.acquireRelease(
  Effect.flatMap(NatsServer.NatsServer, (server) => Effect.promise(() => connect({ servers: server.url, name: "plain" }))),
  (nc) => Effect.promise(() => nc.close())
)

const flushBoth = (nc: RawConnection) =>
  Effect.andThen(
    Effect.promise(() => nc.flush()),
    NatsConnection.NatsConnection.use((c) => Effect.promise(() => c.client.flush()))
  )

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("foreign messages", (it) => {
  it.effect("a plain nc.request gets a reply from Bus.serve with foreign; without it, nobody answers", () =>
    Effect.scoped(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const nc = yield* raw
      const { prefix } = unique()
      const seen = yield* Ref.make<ReadonlyArray<Bus.Received>>([])
      yield* bus.serve(`${prefix}.status`, (request) =>
        Effect.gen(function*() {
          yield* Ref.update(seen, (all) => [...all, request])
          const { orderId } = yield* GetStatus.decode(request.envelope)
          return yield* Status.causedBy(request.envelope, { orderId, status: "placed" })
        }), { foreign: Foreign.accept(GetStatus, Foreign.cim) })
      yield* bus.serve(`${prefix}.strict`, () => Status.root({ orderId: "x", status: "never" }))
      yield* flushBoth(nc)

      const h = makeHeaders()
      h.set("X-Correlation-ID", "flow-42")
      const reply = yield* Effect.promise(() =>
        nc.request(`${prefix}.status`, json({ orderId: "o-1" }), { timeout: 5_000, headers: h })
      )
      assert.deepStrictEqual(JSON.parse(decoder.decode(reply.data)), { orderId: "o-1", status: "placed" })
      // The reply joins the caller's flow: its correlation id came from X-Correlation-ID.
      assert.strictEqual(reply.headers?.get("Herald-Correlation-Id"), "flow-42")
      const [request] = yield* Ref.get(seen)
      assert.strictEqual(request!.envelope.type, "GetStatus")
      assert.strictEqual(request!.envelope.kind, "query")
      assert.strictEqual(request!.envelope.identity.correlationId, "flow-42")
      assert.strictEqual(reply.headers?.get("Herald-Causation-Id"), request!.envelope.identity.messageId)

      const refused = yield* Effect.exit(Effect.tryPromise(() =>
        nc.request(`${prefix}.strict`, json({ orderId: "o-1" }), { timeout: 500 })
      ))
      assert.isTrue(refused._tag === "Failure")
    })))

  it.effect("Bus.request to a plain JSON responder: decoded by the reply's Schema, in the request's flow", () =>
    Effect.scoped(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const nc = yield* raw
      const { prefix } = unique()
      const sub = nc.subscribe(`${prefix}.status`, {
        callback: (_err, msg) => {
          const { orderId } = JSON.parse(decoder.decode(msg.data)) as { orderId: string }
          msg.respond(json({ orderId, status: "shipped" }))
        }
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
      yield* flushBoth(nc)

      const question = yield* GetStatus.root({ orderId: "o-7" })
      const strict = yield* Effect.flip(bus.request(`${prefix}.status`, question, { timeout: "5 seconds" }))
      assert.strictEqual(strict.reason._tag, "DecodeError")

      const answer = yield* bus.request(`${prefix}.status`, question, {
        timeout: "5 seconds",
        foreign: Foreign.accept(Status)
      })
      assert.deepStrictEqual(yield* Status.decode(answer), { orderId: "o-7", status: "shipped" })
      assert.strictEqual(answer.identity.correlationId, question.identity.correlationId)
      assert.isTrue(MessageIdentity.isCausedBy(answer.identity, question.identity))
    })))

  it.effect("Bus.subscribe with foreign: plain publishes arrive with synthesized identity; Herald messages as they are", () =>
    Effect.scoped(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const nc = yield* raw
      const { prefix } = unique()
      const stream = yield* bus.subscribe(`${prefix}.>`, { foreign: Foreign.accept(OrderPlaced, Foreign.cim) })
      const collect = yield* Effect.forkScoped(Stream.runCollect(Stream.take(stream, 3)))
      yield* flushBoth(nc)

      const h = makeHeaders()
      h.set("X-Message-ID", "m-1")
      h.set("X-Correlation-ID", "c-1")
      h.set("X-Causation-ID", "p-1")
      h.set("X-Timestamp", "2026-01-02T03:04:05.000Z")
      nc.publish(`${prefix}.placed`, json({ orderId: "a", n: 1 }), { headers: h })
      nc.publish(`${prefix}.placed`, json({ orderId: "b", n: 2 }))
      // Two connections: the raw ones are read by the server before the Herald one.
      yield* Effect.promise(() => nc.flush())
      const herald = yield* OrderPlaced.root({ orderId: "c", n: 3 })
      yield* bus.publish(`${prefix}.placed`, herald)

      const got = Array.from(yield* Fiber.join(collect))
      const byN = new Map<number, Envelope.Envelope>()
      for (const m of got) byN.set((yield* OrderPlaced.decode(m.envelope)).n, m.envelope)
      assert.deepStrictEqual([...byN.keys()].sort(), [1, 2, 3])
      const first = byN.get(1)!
      assert.strictEqual(first.identity.messageId, "m-1")
      assert.strictEqual(first.identity.correlationId, "c-1")
      assert.strictEqual(first.identity.causationId, "p-1")
      assert.strictEqual(first.occurredAt, Date.parse("2026-01-02T03:04:05.000Z"))
      // No id anywhere: a fresh one, a root of its own.
      assert.isTrue(MessageIdentity.isRoot(byN.get(2)!.identity))
      assert.notStrictEqual(byN.get(2)!.identity.messageId, "m-1")
      assert.deepStrictEqual(byN.get(3)!.identity, herald.identity)
    })))

  it.effect("consume with foreign: 300 plain JetStream messages handled exactly once; ids from X-*, Nats-Msg-Id, else stream:sequence", () =>
    Effect.scoped(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const nc = yield* raw
      const { stream, prefix, consumer } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }],
        consumers: [{ stream, name: consumer }]
      })
      const js = jetstream(nc)
      const total = 300
      for (let n = 0; n < total; n++) {
        const h = makeHeaders()
        if (n % 3 === 0) {
          h.set("X-Event-ID", `ev-${n}`)
          h.set("X-Event-Type", "OrderPlaced")
          h.set("X-Correlation-ID", `order-${n % 10}`)
          h.set("X-Aggregate-ID", `o-${n}`)
          yield* Effect.promise(() => js.publish(`${prefix}.placed`, json({ orderId: `o-${n}`, n }), { headers: h }))
        } else if (n % 3 === 1) {
          yield* Effect.promise(() => js.publish(`${prefix}.placed`, json({ orderId: `o-${n}`, n }), { msgID: `msg-${n}` }))
        } else {
          yield* Effect.promise(() => js.publish(`${prefix}.placed`, json({ orderId: `o-${n}`, n })))
        }
      }
      const handled = yield* Ref.make(new Map<number, { id: string; correlation: string; aggregate?: string }>())
      const twice = yield* Ref.make(0)
      const handle = yield* log.consume(stream, consumer, (delivery) =>
        Effect.gen(function*() {
          const order = yield* OrderPlaced.decode(delivery.envelope)
          const seen = yield* Ref.get(handled)
          if (seen.has(order.n)) yield* Ref.update(twice, (k) => k + 1)
          const entry: { id: string; correlation: string; aggregate?: string } = {
            id: delivery.envelope.identity.messageId,
            correlation: delivery.envelope.identity.correlationId
          }
          const aggregate = delivery.envelope.headers["X-Aggregate-ID"]
          if (aggregate !== undefined) entry.aggregate = aggregate
          yield* Ref.update(handled, (m) => new Map(m).set(order.n, entry))
        }), { concurrency: 4, foreign: Foreign.accept(OrderPlaced, Foreign.cim) })

      yield* Wait.until(Ref.get(handled), (m) => m.size === total, "every message handled")
      yield* Wait.until(handle.stats, (s) => s.acked === total, "every message acked")
      const stats = yield* handle.stats
      assert.strictEqual(stats.deadLettered, 0)
      assert.strictEqual(yield* Ref.get(twice), 0)
      const byN = yield* Ref.get(handled)
      const info = yield* log.info(stream)
      assert.strictEqual(info.messages, total)
      for (let n = 0; n < total; n++) {
        const h = byN.get(n)!
        if (n % 3 === 0) {
          assert.strictEqual(h.id, `ev-${n}`)
          assert.strictEqual(h.correlation, `order-${n % 10}`)
          assert.strictEqual(h.aggregate, `o-${n}`)
        } else if (n % 3 === 1) {
          assert.strictEqual(h.id, `msg-${n}`)
          assert.strictEqual(h.correlation, `msg-${n}`)
        } else {
          assert.strictEqual(h.id, `${stream}:${n + 1}`)
        }
      }
    })))

  it.effect("without foreign, a consumer dead-letters a plain message as undecodable", () =>
    Effect.scoped(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const nc = yield* raw
      const { stream, prefix, consumer } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`] }, { name: `${stream}DLQ`, subjects: [`${prefix}dlq.>`] }],
        consumers: [{ stream, name: consumer, deadLetterSubject: `${prefix}dlq.x` }]
      })
      yield* Effect.promise(() => jetstream(nc).publish(`${prefix}.placed`, json({ orderId: "o", n: 1 })))
      const calls = yield* Ref.make(0)
      const handle = yield* log.consume(stream, consumer, () => Ref.update(calls, (n) => n + 1))
      yield* Wait.until(handle.stats, (s) => s.deadLettered === 1, "the plain message dead-lettered")
      assert.strictEqual(yield* Ref.get(calls), 0)
      const [letter] = yield* Stream.runCollect(Stream.take(log.readRaw(`${stream}DLQ`), 1))
      assert.include(letter!.raw.headers["Herald-Dlq-Reason"], "Herald-Message-Id")
    })))

  it.effect("Herald to a service of the X-* convention: Foreign.stamp writes its headers beside Herald's", () =>
    Effect.scoped(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const nc = yield* raw
      const { prefix } = unique()
      const received: Array<{ headers: Record<string, string>; body: unknown }> = []
      const sub = nc.subscribe(`${prefix}.>`, {
        callback: (_err, msg) => {
          const headers: Record<string, string> = {}
          for (const k of msg.headers?.keys() ?? []) headers[k] = msg.headers!.get(k)
          received.push({ headers, body: JSON.parse(decoder.decode(msg.data)) })
        }
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
      yield* flushBoth(nc)
      const placed = yield* OrderPlaced.root({ orderId: "o-9", n: 9 })
      const paid = yield* OrderPlaced.causedBy(placed, { orderId: "o-9", n: 10 })
      yield* bus.publish(`${prefix}.placed`, Foreign.stamp(placed, Foreign.cim))
      yield* bus.publish(`${prefix}.paid`, Foreign.stamp(paid, Foreign.cim))
      yield* flushBoth(nc)
      yield* Wait.until(Effect.sync(() => received.length), (n) => n === 2, "both messages at the plain subscriber")
      const [first, second] = received
      assert.strictEqual(first!.headers["X-Message-ID"], placed.identity.messageId)
      assert.strictEqual(first!.headers["X-Event-ID"], placed.identity.messageId)
      assert.strictEqual(first!.headers["X-Event-Type"], "OrderPlaced")
      assert.strictEqual(first!.headers["X-Timestamp"], new Date(placed.occurredAt).toISOString())
      assert.strictEqual(second!.headers["X-Correlation-ID"], placed.identity.correlationId)
      assert.strictEqual(second!.headers["X-Causation-ID"], placed.identity.messageId)
      assert.strictEqual(second!.headers["Herald-Message-Id"], paid.identity.messageId)
      assert.deepStrictEqual(second!.body, { orderId: "o-9", n: 10 })
    })))
})
