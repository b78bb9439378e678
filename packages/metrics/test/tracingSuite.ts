/**
 * The tracing suite, written once and run on the in-memory transport and on
 * nats-server: each flow (publish → subscribe, append → consume,
 * request → serve, outbox → relay → consume, a saga step) forms one trace
 * with exact parent/child links, read from an in-memory span exporter.
 */
import { Outbox, OutboxMemory, OutboxRelay } from "@herald/outbox"
import { Saga, SagaMemory, SagaRunner } from "@herald/saga"
import { Fixtures, Wait } from "@herald/testing"
import { Bus, EventLog, Message, Topology } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Semconv, Tracing } from "../src/index.ts"

/** An in-memory span exporter: a `Tracer` that keeps every span it ends. */
export const exporter = () => {
  const ended: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        ended.push(span)
      }
      return span
    }
  })
  /** The one ended span named `name` (and matching `where`); fails unless there is exactly one. */
  const one = (name: string, where: (span: Tracer.Span) => boolean = () => true): Tracer.Span => {
    const found = ended.filter((s) => s.name === name && where(s))
    assert.strictEqual(found.length, 1, `spans named ${name}: ${ended.map((s) => s.name).join(", ")}`)
    return found[0]!
  }
  const count = (name: string) => Effect.sync(() => ended.filter((s) => s.name === name).length)
  return { ended, tracer, one, count }
}

/** The parent's span id, or `undefined` for a root. */
export const parentId = (span: Tracer.Span): string | undefined => Option.getOrUndefined(span.parent)?.spanId

export const traceparentOf = (span: Tracer.AnySpan) => `00-${span.traceId}-${span.spanId}-01`

/** The names from a span up to its root, through the exporter's ended spans. */
export const ancestry = (ended: ReadonlyArray<Tracer.Span>, span: Tracer.Span): ReadonlyArray<string> => {
  const names: Array<string> = []
  let current: Tracer.Span | undefined = span
  while (current !== undefined) {
    names.push(current.name)
    const parent = parentId(current)
    if (parent === undefined) break
    const next: Tracer.Span | undefined = ended.find((s) => s.spanId === parent)
    assert.isDefined(next, `the parent of ${current.name} ended`)
    assert.strictEqual(next!.traceId, span.traceId)
    current = next
  }
  return names
}

const attribute = (span: Tracer.Span, name: keyof typeof Semconv.Attributes) =>
  span.attributes.get(Semconv.Attributes[name])

const Opened = Message.event("trace.Opened", Schema.Struct({ account: Schema.String }))
const Notify = Message.command("trace.Notify", Schema.Struct({ account: Schema.String }))

export interface Names {
  readonly prefix: string
  readonly stream: string
}

type It = {
  readonly effect: (
    name: string,
    self: () => Effect.Effect<void, unknown, Bus.Bus | EventLog.EventLog | Topology.Topology>
  ) => void
}

export const suite = (it: It, unique: () => Names) => {
  it.effect("publish → subscribe: send is a child of the caller's span, receive and process children of send", () => {
    const ex = exporter()
    const { prefix } = unique()
    const pattern = `${prefix}.orders.*`
    return Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const messages = yield* bus.subscribe(pattern)
      const envelope = Fixtures.envelope({ identity: 1 })
      yield* bus.publish(`${prefix}.orders.o-1`, envelope).pipe(Effect.withSpan("place order"))
      // Not a destination: named "(other)".
      yield* bus.publish(`${prefix}.other`, Fixtures.envelope({ identity: 2 })).pipe(Effect.withSpan("unrelated"))
      const received = Array.from(yield* Stream.runCollect(Stream.take(messages, 1)))
      assert.strictEqual(received.length, 1)
      yield* Effect.void.pipe(Tracing.process(pattern, received[0]!))

      const root = ex.one("place order")
      const send = ex.one(`send ${pattern}`)
      const receive = ex.one(`receive ${pattern}`)
      const process = ex.one(`process ${pattern}`)
      assert.strictEqual(parentId(root), undefined)
      assert.strictEqual(parentId(send), root.spanId)
      assert.strictEqual(parentId(receive), send.spanId)
      assert.strictEqual(parentId(process), send.spanId)
      for (const span of [send, receive, process]) assert.strictEqual(span.traceId, root.traceId)
      assert.strictEqual(received[0]!.envelope.headers["traceparent"], traceparentOf(send))
      assert.strictEqual(send.kind, "producer")
      assert.strictEqual(receive.kind, "consumer")
      assert.strictEqual(process.kind, "consumer")
      assert.strictEqual(attribute(send, "system"), "nats")
      assert.strictEqual(attribute(send, "operationType"), "send")
      assert.strictEqual(attribute(send, "destination"), pattern)
      assert.strictEqual(attribute(send, "messageId"), envelope.identity.messageId)
      assert.strictEqual(attribute(process, "operationType"), "process")
      assert.strictEqual(attribute(process, "destination"), pattern)
      assert.strictEqual(attribute(process, "messageId"), envelope.identity.messageId)
      assert.strictEqual(attribute(process, "conversationId"), envelope.identity.correlationId)
      const other = ex.one(`send ${Tracing.otherDestination}`)
      assert.strictEqual(parentId(other), ex.one("unrelated").spanId)
    }).pipe(
      Effect.provide(Tracing.layer({ destinations: [pattern] })),
      Effect.scoped,
      Effect.withTracer(ex.tracer)
    )
  })

  it.effect("an unsampled trace: its context still travels (flags 00), its spans carry no attributes", () => {
    const ex = exporter()
    const { prefix } = unique()
    const pattern = `${prefix}.orders.*`
    return Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const messages = yield* bus.subscribe(pattern)
      yield* bus.publish(`${prefix}.orders.o-1`, Fixtures.envelope({ identity: 1 })).pipe(
        Effect.withSpan("place order", { sampled: false })
      )
      const received = Array.from(yield* Stream.runCollect(Stream.take(messages, 1)))
      assert.strictEqual(received.length, 1)

      const root = ex.one("place order")
      const send = ex.one(`send ${pattern}`)
      const receive = ex.one(`receive ${pattern}`)
      assert.strictEqual(parentId(send), root.spanId)
      assert.strictEqual(parentId(receive), send.spanId)
      assert.strictEqual(received[0]!.envelope.headers["traceparent"], `00-${send.traceId}-${send.spanId}-00`)
      for (const span of [send, receive]) {
        assert.strictEqual(span.sampled, false)
        assert.strictEqual(span.attributes.size, 0)
      }
    }).pipe(
      Effect.provide(Tracing.layer({ destinations: [pattern] })),
      Effect.scoped,
      Effect.withTracer(ex.tracer)
    )
  })

  it.effect("append → consume: every delivery is a child of the producer's span, with its delivery count", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "worker" })
      const log = yield* EventLog.EventLog
      const envelope = Fixtures.envelope({ identity: 1 })
      yield* log.append(`${prefix}.orders.o-1`, envelope, { expectedStream: stream }).pipe(Effect.withSpan("place order"))
      let calls = 0
      yield* log.consume(
        stream,
        "worker",
        () => Effect.suspend(() => ++calls === 1 ? Effect.fail("first delivery fails") : Effect.void),
        { nakDelay: () => "10 millis" }
      )
      yield* Wait.until(ex.count(`process ${stream}`), (n) => n === 2, "two deliveries processed")

      const root = ex.one("place order")
      const send = ex.one(`send ${stream}`)
      assert.strictEqual(parentId(send), root.spanId)
      assert.strictEqual(send.kind, "producer")
      assert.strictEqual(attribute(send, "destination"), stream)
      const processed = ex.ended.filter((s) => s.name === `process ${stream}`)
      assert.deepStrictEqual(processed.map((s) => attribute(s, "deliveryCount")), [1, 2])
      assert.deepStrictEqual(processed.map((s) => s.status._tag === "Ended" && s.status.exit._tag), ["Failure", "Success"])
      for (const span of processed) {
        assert.strictEqual(parentId(span), send.spanId)
        assert.strictEqual(span.traceId, root.traceId)
        assert.strictEqual(span.kind, "consumer")
        assert.strictEqual(attribute(span, "destination"), stream)
        assert.strictEqual(attribute(span, "consumerGroup"), "worker")
        assert.strictEqual(attribute(span, "messageId"), envelope.identity.messageId)
        assert.strictEqual(attribute(span, "conversationId"), envelope.identity.correlationId)
      }
    }).pipe(Effect.provide(Tracing.layer()), Effect.scoped, Effect.withTracer(ex.tracer))
  })

  it.effect("append → pull: a receive span linked to the producer's, and process under Tracing.process", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "puller" })
      const log = yield* EventLog.EventLog
      yield* log.append(`${prefix}.orders.o-1`, Fixtures.envelope({ identity: 1 })).pipe(Effect.withSpan("place order"))
      const deliveries = yield* log.pull(stream, "puller", { batch: 10, expires: "1 second" }).pipe(
        Effect.withSpan("poll")
      )
      assert.strictEqual(deliveries.length, 1)
      yield* deliveries[0]!.ack.pipe(Tracing.process(stream, deliveries[0]!))

      const send = ex.one(`send ${prefix}.>`)
      const receive = ex.one(`receive ${stream}`)
      const process = ex.one(`process ${stream}`)
      assert.strictEqual(parentId(send), ex.one("place order").spanId)
      assert.strictEqual(parentId(receive), ex.one("poll").spanId)
      assert.deepStrictEqual(receive.links.map((l) => l.span.spanId), [send.spanId])
      assert.strictEqual(attribute(receive, "consumerGroup"), "puller")
      assert.strictEqual(parentId(process), send.spanId)
      assert.strictEqual(process.traceId, send.traceId)
      assert.strictEqual(attribute(process, "deliveryCount"), 1)
      assert.strictEqual(attribute(process, "consumerGroup"), "puller")
    }).pipe(Effect.provide(Tracing.layer({ destinations: [`${prefix}.>`] })), Effect.scoped, Effect.withTracer(ex.tracer))
  })

  it.effect("request → serve: the server's span is a child of the request's, and the reply carries it back", () => {
    const ex = exporter()
    const { prefix } = unique()
    const pattern = `${prefix}.status.*`
    return Effect.gen(function*() {
      const bus = yield* Bus.Bus
      yield* bus.serve(pattern, () => Effect.succeed(Fixtures.envelope({ identity: 2, kind: "reply" })))
      const reply = yield* bus.request(`${prefix}.status.o-1`, Fixtures.envelope({ identity: 1, kind: "query" })).pipe(
        Effect.withSpan("ask")
      )
      yield* Wait.until(ex.count(`process ${pattern}`), (n) => n === 1, "request served")

      const root = ex.one("ask")
      const send = ex.one(`send ${pattern}`)
      const process = ex.one(`process ${pattern}`)
      assert.strictEqual(parentId(send), root.spanId)
      assert.strictEqual(parentId(process), send.spanId)
      assert.strictEqual(process.traceId, root.traceId)
      assert.strictEqual(attribute(send, "operationName"), "request")
      assert.strictEqual(reply.headers["traceparent"], traceparentOf(process))
      assert.deepStrictEqual(send.links.map((l) => l.span.spanId), [process.spanId])
    }).pipe(Effect.provide(Tracing.layer({ destinations: [pattern] })), Effect.scoped, Effect.withTracer(ex.tracer))
  })

  it.effect("outbox → relay → consume: the consumer's span is a child of the transaction's; the relay's append links its poll", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    const Env = Outbox.layer.pipe(Layer.provideMerge(OutboxMemory.layer))
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "projector" })
      const envelope = Fixtures.envelope({ identity: 1 })
      yield* OutboxMemory.transaction(Outbox.publish(`${prefix}.orders.o-1`, envelope)).pipe(
        Effect.withSpan("place order")
      )
      const relayed = yield* OutboxRelay.drain().pipe(Effect.withSpan("relay"))
      assert.strictEqual(relayed.published, 1)
      const log = yield* EventLog.EventLog
      yield* log.consume(stream, "projector", () => Effect.void)
      yield* Wait.until(ex.count(`process ${stream}`), (n) => n === 1, "message processed")

      const root = ex.one("place order")
      const publish = ex.one("Outbox.publish")
      const relay = ex.one("relay")
      const send = ex.one(`send ${prefix}.>`)
      const process = ex.one(`process ${stream}`)
      assert.strictEqual(parentId(publish), root.spanId)
      // The relay's append continues the stored context, and links to the relay's own work.
      assert.strictEqual(parentId(send), publish.spanId)
      assert.strictEqual(send.traceId, root.traceId)
      assert.strictEqual(send.links.length, 1)
      assert.strictEqual(send.links[0]!.span.traceId, relay.traceId)
      assert.notStrictEqual(relay.traceId, root.traceId)
      // The consumer's span: a child of the span that wrote the message in the transaction.
      assert.strictEqual(parentId(process), publish.spanId)
      assert.strictEqual(process.traceId, root.traceId)
      assert.deepStrictEqual(ancestry(ex.ended, process), [`process ${stream}`, "Outbox.publish", "place order"])
    }).pipe(
      Effect.provide(Env),
      Effect.provide(Tracing.layer({ destinations: [`${prefix}.>`] })),
      Effect.scoped,
      Effect.withTracer(ex.tracer)
    )
  })

  it.effect("a saga step: trigger → saga → command → consumer is one trace", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    const saga = Saga.make({
      name: "trace",
      state: Schema.Struct({ opened: Schema.Boolean }),
      initial: { opened: false },
      on: (on) => [
        on(Opened, (_, opened) =>
          Saga.transition({ opened: true }, {
            send: [Saga.send(`${prefix}.cmd.notify`, Notify, { account: opened.account })]
          }), { starts: true, correlate: (p) => p.account })
      ]
    })
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "saga", filterSubject: `${prefix}.evt.>` })
      yield* topology.ensureConsumer({ stream, name: "notifier", filterSubject: `${prefix}.cmd.>` })
      yield* SagaRunner.run(saga, { stream, consumer: "saga", timeoutInterval: "20 millis" })
      const log = yield* EventLog.EventLog
      yield* log.consume(stream, "notifier", () => Effect.void)
      const opened = yield* Opened.make({ account: "a-1" }, { identity: Fixtures.root(1) })
      yield* log.append(`${prefix}.evt.opened`, opened).pipe(Effect.withSpan("open account"))
      yield* Wait.until(ex.count(`process ${stream}`), (n) => n === 2, "trigger and command processed")

      const root = ex.one("open account")
      const trigger = ex.one(`process ${stream}`, (s) => attribute(s, "consumerGroup") === "saga")
      const command = ex.one(`process ${stream}`, (s) => attribute(s, "consumerGroup") === "notifier")
      assert.strictEqual(attribute(trigger, "messageId"), opened.identity.messageId)
      assert.strictEqual(attribute(command, "messageType"), Notify.type)
      assert.strictEqual(attribute(command, "conversationId"), opened.identity.correlationId)
      assert.deepStrictEqual(ancestry(ex.ended, trigger), [`process ${stream}`, `send ${prefix}.>`, "open account"])
      // The command carries the context of the saga's span: the store's append of it is a sibling.
      assert.deepStrictEqual(ancestry(ex.ended, command), [
        `process ${stream}`,
        `process ${stream}`,
        `send ${prefix}.>`,
        "open account"
      ])
      assert.strictEqual(parentId(command), trigger.spanId)
      const sends = ex.ended.filter((s) => s.name === `send ${prefix}.>`)
      assert.strictEqual(sends.length, 2)
      const stored = sends.find((s) => attribute(s, "messageType") === Notify.type)!
      assert.strictEqual(parentId(stored), trigger.spanId)
      assert.strictEqual(command.traceId, root.traceId)
    }).pipe(
      Effect.provide(SagaMemory.layer),
      Effect.provide(Tracing.layer({ destinations: [`${prefix}.>`] })),
      Effect.scoped,
      Effect.withTracer(ex.tracer)
    )
  })

  it.effect("a message without traceparent (a client that does not trace) starts a new trace", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "worker" })
      // Appended through the transport itself, not the traced one: no traceparent.
      const plain = yield* EventLog.EventLog
      yield* plain.appendRaw(`${prefix}.orders.o-1`, Fixtures.raw(Fixtures.envelope({ identity: 1 }))).pipe(
        Effect.withSpan("not propagated")
      )
      yield* Effect.gen(function*() {
        const log = yield* EventLog.EventLog
        yield* log.consume(stream, "worker", () => Effect.void)
        yield* Wait.until(ex.count(`process ${stream}`), (n) => n === 1, "processed")
      }).pipe(Effect.provide(Tracing.layer()), Effect.withSpan("consumer setup"))

      const process = ex.one(`process ${stream}`)
      assert.strictEqual(parentId(process), undefined)
      assert.notStrictEqual(process.traceId, ex.one("not propagated").traceId)
      assert.notStrictEqual(process.traceId, ex.one("consumer setup").traceId)
    }).pipe(Effect.scoped, Effect.withTracer(ex.tracer))
  })
}
