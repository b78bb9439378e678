import { MessageIdentity } from "@herald/identity"
import { Capture, Fixtures, NatsServer, Wait } from "@herald/testing"
import { Bus, type Envelope, TransportError, Wire } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import { headers as makeHeaders, type MsgHdrs } from "@nats-io/nats-core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { NatsBus, NatsConnection } from "../src/index.ts"

const maxPayload = 4096

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsConnection.layer({ servers: server.url, name: "bus-test" }))
).pipe(Layer.provideMerge(NatsServer.layer({ maxPayload, jetstream: false })))

const Live = NatsBus.layer.pipe(Layer.provideMerge(Nats))

let counter = 0
/** A subject prefix of its own for each test. */
const prefix = () => `bt${++counter}x${Math.random().toString(36).slice(2, 7)}`

const nOf = (m: { readonly envelope: Envelope.Envelope }): number =>
  (Fixtures.json(m.envelope) as { readonly n: number }).n

const envelope = (n: number, options?: { readonly kind?: Envelope.Kind; readonly causedBy?: Envelope.Envelope; readonly headers?: Record<string, string> }) =>
  Fixtures.envelope({
    identity: options?.causedBy === undefined
      ? Fixtures.root(n)
      : MessageIdentity.derive(options.causedBy.identity, Fixtures.id(n)),
    kind: options?.kind ?? "event",
    payload: { n },
    headers: options?.headers
  })

const natsHeaders = (h: Readonly<Record<string, string>>): MsgHdrs => {
  const out = makeHeaders()
  for (const k in h) out.set(k, h[k]!)
  return out
}

const reasonOf = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.flatMap(Effect.flip(effect), (e) => Effect.succeed(e.reason))

/** Waits until every message sent so far on the connection has been answered by the server. */
const flush = NatsConnection.NatsConnection.use((c) => Effect.promise(() => c.client.flush()))

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("NatsBus", (it) => {
  it.effect("publish/subscribe: exactly the messages of the subject, in order, with every field", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const p = prefix()
      const capture = yield* Capture.make(`${p}.orders.a`)
      const star = yield* Capture.make(`${p}.*.a`)
      const tail = yield* Capture.make(`${p}.>`)
      yield* bus.publish(`${p}.nobody`, envelope(0))
      const sent = [1, 2, 3].map((n) => envelope(n, { headers: { traceparent: `00-${"0".repeat(31)}${n}-${"0".repeat(15)}1-01` } }))
      for (const e of sent) yield* bus.publish(`${p}.orders.a`, e)
      yield* bus.publish(`${p}.orders.b`, envelope(4))
      yield* bus.publish(`${p}.users.a`, envelope(5))
      yield* tail.waitFor(6, "5 seconds")
      yield* flush
      const got = yield* capture.messages
      assert.deepStrictEqual(got.map(nOf), [1, 2, 3])
      assert.deepStrictEqual(got.map((m) => m.subject), [`${p}.orders.a`, `${p}.orders.a`, `${p}.orders.a`])
      assert.deepStrictEqual(got.map((m) => m.replyTo), [undefined, undefined, undefined])
      for (let i = 0; i < 3; i++) {
        const a = got[i]!.envelope
        const b = sent[i]!
        assert.strictEqual(a.identity.messageId, b.identity.messageId)
        assert.strictEqual(a.identity.correlationId, b.identity.correlationId)
        assert.strictEqual(a.identity.causationId, b.identity.causationId)
        assert.strictEqual(a.type, b.type)
        assert.strictEqual(a.kind, b.kind)
        assert.strictEqual(a.occurredAt, b.occurredAt)
        assert.strictEqual(a.contentType, b.contentType)
        assert.deepStrictEqual(a.headers, b.headers)
        assert.deepStrictEqual([...a.body], [...b.body])
      }
      assert.deepStrictEqual((yield* star.messages).map(nOf), [1, 2, 3, 5])
      assert.deepStrictEqual((yield* tail.messages).map(nOf), [0, 1, 2, 3, 4, 5])
    }))

  it.effect("queue group: each message reaches exactly one member; a plain subscriber gets all", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.jobs`
      const members = [
        yield* Capture.make(subject, { queue: "workers" }),
        yield* Capture.make(subject, { queue: "workers" }),
        yield* Capture.make(subject, { queue: "workers" })
      ]
      const plain = yield* Capture.make(subject)
      for (let n = 1; n <= 60; n++) yield* bus.publish(subject, envelope(n))
      yield* plain.waitFor(60, "5 seconds")
      yield* flush
      const shared = (yield* Effect.forEach(members, (m) => m.messages)).flat().map(nOf).sort((a, b) => a - b)
      assert.deepStrictEqual(shared, Array.from({ length: 60 }, (_, i) => i + 1))
      assert.deepStrictEqual((yield* plain.messages).map(nOf), Array.from({ length: 60 }, (_, i) => i + 1))
    }))

  it.effect("closing the scope unsubscribes on the server and ends the stream", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const { client } = yield* NatsConnection.NatsConnection
      const subject = `${prefix()}.orders`
      const inner = yield* Scope.make()
      const stream = yield* Scope.provide(inner)(bus.subscribe(subject))
      const got: Array<number> = []
      const reader = yield* Effect.forkChild(Stream.runForEach(stream, (m) => Effect.sync(() => void got.push(nOf(m)))))
      yield* bus.publish(subject, envelope(1))
      yield* flush
      yield* Scope.close(inner, Exit.void)
      yield* Fiber.join(reader)
      assert.deepStrictEqual(got, [1])
      // The server no longer sends the subject to this connection.
      const before = client.stats().inMsgs
      yield* bus.publish(subject, envelope(2))
      yield* bus.publish(subject, envelope(3))
      yield* flush
      assert.strictEqual(client.stats().inMsgs, before)
    }))

  it.effect("a slow reader keeps only the newest bufferSize messages", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.fast`
      const stream = yield* bus.subscribe(subject, { bufferSize: 2 })
      for (let n = 1; n <= 5; n++) yield* bus.publish(subject, envelope(n))
      yield* flush
      const got = yield* Stream.runCollect(Stream.take(stream, 2))
      assert.deepStrictEqual(got.map(nOf), [4, 5])
    }))

  it.effect("a raw message that is not an envelope goes to onInvalid; a valid raw one is emitted", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.orders`
      const capture = yield* Capture.make(subject)
      yield* bus.publishRaw(subject, Fixtures.rawMalformed("missingId", envelope(1)))
      yield* bus.publishRaw(subject, Fixtures.rawMalformed("badKind", envelope(2)))
      yield* bus.publishRaw(subject, { headers: {}, body: new TextEncoder().encode("plain text") })
      yield* bus.publishRaw(subject, Fixtures.raw(envelope(3)))
      yield* capture.waitFor(1, "5 seconds")
      yield* flush
      assert.deepStrictEqual((yield* capture.messages).map(nOf), [3])
      const invalid = yield* capture.invalid
      assert.deepStrictEqual(invalid.map((i) => i.subject), [subject, subject, subject])
      assert.deepStrictEqual(
        invalid.map((i) => i.error.reason._tag === "DecodeError" ? i.error.reason.header : i.error.reason._tag),
        [Wire.HeaderNames.messageId, Wire.HeaderNames.kind, Wire.HeaderNames.messageId]
      )
    }))

  it.effect("request/reply: the reply comes back with its identity; the responder serves again", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.svc.double`
      const seen: Array<Bus.Received> = []
      yield* bus.serve(subject, (request) =>
        Effect.sync(() => {
          seen.push(request)
          return Fixtures.envelope({
            identity: MessageIdentity.derive(request.envelope.identity, Fixtures.id(100 + nOf(request))),
            kind: "reply",
            type: "test.Pong",
            payload: { n: nOf(request) * 2 }
          })
        }))
      const request = envelope(21, { kind: "query" })
      const reply = yield* bus.request(subject, request, { timeout: "2 seconds" })
      assert.strictEqual(nOf({ envelope: reply }), 42)
      assert.strictEqual(reply.kind, "reply")
      assert.strictEqual(reply.type, "test.Pong")
      assert.strictEqual(reply.identity.messageId, Fixtures.id(121))
      assert.strictEqual<string>(reply.identity.causationId, request.identity.messageId)
      assert.strictEqual(reply.identity.correlationId, request.identity.correlationId)
      assert.strictEqual(seen.length, 1)
      assert.strictEqual(seen[0]!.subject, subject)
      assert.strictEqual(seen[0]!.envelope.identity.messageId, request.identity.messageId)
      assert.isString(seen[0]!.replyTo)
      const second = yield* bus.request(subject, envelope(5, { kind: "query" }))
      assert.strictEqual(nOf({ envelope: second }), 10)
      assert.strictEqual(seen.length, 2)
    }))

  it.effect("request: Timeout when no reply comes in time, NoResponders when nobody serves", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const p = prefix()
      yield* bus.serve(`${p}.slow`, (request) =>
        Effect.as(Effect.sleep("10 seconds"), envelope(2, { kind: "reply", causedBy: request.envelope })))
      const timeout = yield* reasonOf(bus.request(`${p}.slow`, envelope(1, { kind: "query" }), { timeout: "300 millis" }))
      assert.strictEqual(timeout._tag, "Timeout")
      assert.strictEqual(timeout._tag === "Timeout" ? timeout.millis : -1, 300)
      assert.strictEqual(timeout._tag === "Timeout" ? timeout.operation : "", `request on ${p}.slow`)
      const none = yield* reasonOf(bus.request(`${p}.nobody`, envelope(1, { kind: "query" }), { timeout: "30 seconds" }))
      assert.strictEqual(none._tag, "NoResponders")
      assert.strictEqual(none._tag === "NoResponders" ? none.subject : "", `${p}.nobody`)
    }))

  it.effect("a failing responder answers with an error reply: RemoteError with its description", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const { client } = yield* NatsConnection.NatsConnection
      const p = prefix()
      let calls = 0
      yield* bus.serve(`${p}.broken`, () =>
        Effect.suspend(() => {
          calls++
          return calls === 1
            ? Effect.fail(new Error("boom: the responder broke"))
            : Effect.fail(TransportError.make(new TransportError.HandlerFailed({ detail: "no stock", retryable: false })))
        }))
      const first = yield* reasonOf(bus.request(`${p}.broken`, envelope(1, { kind: "query" })))
      assert.deepStrictEqual(
        first._tag === "RemoteError" ? { subject: first.subject, detail: first.detail } : first._tag,
        { subject: `${p}.broken`, detail: "boom: the responder broke" }
      )
      const second = yield* reasonOf(bus.request(`${p}.broken`, envelope(2, { kind: "query" })))
      assert.strictEqual(second._tag === "RemoteError" ? second.detail : second._tag, "TransportError: handler failed: no stock")
      assert.strictEqual(calls, 2)
      // The error reply is an envelope: a reply caused by the request, with the error in a header.
      const raw = yield* Effect.promise(() => client.request(`${p}.broken`, Fixtures.raw(envelope(3, { kind: "query" })).body, {
        timeout: 2000,
        headers: natsHeaders(Fixtures.raw(envelope(3, { kind: "query" })).headers)
      }))
      assert.strictEqual(raw.headers?.get(Wire.HeaderNames.error), "TransportError: handler failed: no stock")
      assert.strictEqual(raw.headers?.get(Wire.HeaderNames.kind), "reply")
      assert.strictEqual(raw.headers?.get(Wire.HeaderNames.type), "herald.error")
      assert.strictEqual(raw.headers?.get(Wire.HeaderNames.causationId), Fixtures.id(3))
      assert.strictEqual(raw.headers?.get(Wire.HeaderNames.correlationId), Fixtures.id(3))
      assert.strictEqual(new TextDecoder().decode(raw.data), "TransportError: handler failed: no stock")
    }))

  it.effect("a reply that is not an envelope fails the request with DecodeError", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const { client } = yield* NatsConnection.NatsConnection
      const subject = `${prefix()}.raw`
      yield* Effect.acquireRelease(
        Effect.sync(() => client.subscribe(subject, { callback: (_e, msg) => void msg.respond("not an envelope") })),
        (sub) => Effect.sync(() => sub.unsubscribe())
      )
      yield* flush
      const reason = yield* reasonOf(bus.request(subject, envelope(1, { kind: "query" })))
      assert.strictEqual(reason._tag, "DecodeError")
      assert.strictEqual(reason._tag === "DecodeError" ? reason.header : "", Wire.HeaderNames.messageId)
    }))

  it.effect("serve: one request at a time by default, up to its concurrency otherwise", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const run = (subject: string, concurrency: number | undefined) =>
        Effect.gen(function*() {
          let running = 0
          let maxRunning = 0
          const order: Array<number> = []
          yield* bus.serve(subject, (request) =>
            Effect.gen(function*() {
              running++
              maxRunning = Math.max(maxRunning, running)
              order.push(nOf(request))
              yield* Effect.sleep("300 millis")
              running--
              return envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
            }), concurrency === undefined ? undefined : { concurrency })
          const replies = yield* Effect.all(
            [1, 2, 3].map((n) => bus.request(subject, envelope(n, { kind: "query" }), { timeout: "5 seconds" })),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(replies.map((r) => nOf({ envelope: r })), [101, 102, 103])
          return { maxRunning, order }
        })
      const one = yield* run(`${prefix()}.one`, undefined)
      assert.strictEqual(one.maxRunning, 1)
      assert.deepStrictEqual(one.order, [1, 2, 3])
      assert.strictEqual((yield* run(`${prefix()}.three`, 3)).maxRunning, 3)
    }))

  it.effect("serve with a queue group: each request is handled by exactly one member", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.shared`
      const handled: Array<Array<number>> = [[], []]
      for (const i of [0, 1]) {
        yield* bus.serve(subject, (request) =>
          Effect.sync(() => {
            handled[i]!.push(nOf(request))
            return envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
          }), { queue: "svc" })
      }
      for (let n = 1; n <= 20; n++) {
        const reply = yield* bus.request(subject, envelope(n, { kind: "query" }))
        assert.strictEqual(nOf({ envelope: reply }), 100 + n)
      }
      assert.deepStrictEqual(handled.flat().sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
    }))

  it.effect("closing serve's scope stops serving, with nothing logged, even with a request in flight", () => {
    const logs: Array<string> = []
    const collector = Logger.make((options) => {
      if (options.logLevel !== "Debug" && options.logLevel !== "Trace") logs.push(`${options.logLevel}: ${String(options.message)}`)
    })
    return Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.svc`
      const inner = yield* Scope.make()
      let started = 0
      yield* Scope.provide(inner)(bus.serve(subject, (request) =>
        Effect.andThen(
          Effect.sync(() => void started++),
          Effect.as(Effect.sleep("10 seconds"), envelope(2, { kind: "reply", causedBy: request.envelope }))
        )))
      const pending = yield* Effect.forkChild(Effect.flip(bus.request(subject, envelope(1, { kind: "query" }), { timeout: "1 second" })))
      yield* Wait.until(Effect.sync(() => started), (n) => n === 1, "the handler started")
      yield* Scope.close(inner, Exit.void)
      const reason = (yield* Fiber.join(pending)).reason
      assert.strictEqual(reason._tag, "Timeout")
      const after = yield* reasonOf(bus.request(subject, envelope(3, { kind: "query" })))
      assert.strictEqual(after._tag, "NoResponders")
      assert.deepStrictEqual(logs, [])
    }).pipe(Effect.provideService(References.CurrentLoggers, new Set([collector])))
  })

  it.effect("serve ignores a message without a reply subject: nobody waits for it", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `${prefix()}.svc`
      const handled: Array<number> = []
      yield* bus.serve(subject, (request) =>
        Effect.sync(() => {
          handled.push(nOf(request))
          return envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
        }))
      yield* bus.publish(subject, envelope(1))
      const reply = yield* bus.request(subject, envelope(2, { kind: "query" }))
      assert.strictEqual(nOf({ envelope: reply }), 102)
      assert.deepStrictEqual(handled, [2])
    }))

  it.effect("a subscription's stream ends when its connection closes", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const connectionScope = yield* Scope.make()
      const connection = yield* Scope.provide(connectionScope)(
        Effect.map(Layer.build(NatsConnection.layer({ servers: server.url })), Context.get(NatsConnection.NatsConnection))
      )
      const bus = yield* NatsBus.make.pipe(Effect.provideService(NatsConnection.NatsConnection, connection))
      const subject = `${prefix()}.orders`
      const stream = yield* bus.subscribe(subject)
      const reader = yield* Effect.forkChild(Stream.runCollect(stream))
      yield* bus.publish(subject, envelope(1))
      yield* Effect.promise(() => connection.client.flush())
      yield* Scope.close(connectionScope, Exit.void)
      const got = yield* Fiber.join(reader)
      assert.deepStrictEqual(got.map(nOf), [1])
      assert.strictEqual((yield* reasonOf(bus.publish(subject, envelope(2))))._tag, "Closed")
      assert.strictEqual((yield* reasonOf(Effect.scoped(bus.subscribe(subject))))._tag, "Closed")
    }))

  it.effect("an invalid subject or pattern fails with InvalidSubject before anything is sent", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const { client } = yield* NatsConnection.NatsConnection
      const p = prefix()
      const before = client.stats().outMsgs
      for (const subject of [`${p}..orders`, `${p}.orders.*`, `${p}.>`, `${p} orders`, ""]) {
        const a = yield* reasonOf(bus.publish(subject, envelope(1)))
        assert.deepStrictEqual(a._tag === "InvalidSubject" ? a.subject : a._tag, subject)
        assert.strictEqual((yield* reasonOf(bus.publishRaw(subject, Fixtures.raw(envelope(1)))))._tag, "InvalidSubject")
        assert.strictEqual((yield* reasonOf(bus.request(subject, envelope(1), { timeout: "100 millis" })))._tag, "InvalidSubject")
      }
      for (const pattern of [`${p}.>.orders`, `${p}.or*ders`, `${p}..x`, ""]) {
        assert.strictEqual((yield* reasonOf(Effect.scoped(bus.subscribe(pattern))))._tag, "InvalidSubject")
        assert.strictEqual((yield* reasonOf(Effect.scoped(bus.serve(pattern, (r) => Effect.succeed(r.envelope)))))._tag, "InvalidSubject")
      }
      assert.strictEqual(client.stats().outMsgs, before)
    }))

  it.effect("messages over the server's max_payload fail with MessageTooLarge before they are sent", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const { client, server } = yield* NatsConnection.NatsConnection
      assert.strictEqual(server.maxPayload, maxPayload)
      const subject = `${prefix()}.big`
      const capture = yield* Capture.make(subject)
      const base = Fixtures.raw(envelope(1))
      // The size NATS counts: the header block as sent plus the body.
      let headerBlock = "NATS/1.0"
      for (const k in base.headers) headerBlock += `\r\n${k}: ${base.headers[k]}`
      headerBlock += "\r\n\r\n"
      const headerBytes = new TextEncoder().encode(headerBlock).length
      const withBody = (size: number): Envelope.Envelope => ({ ...envelope(1), body: new Uint8Array(size).fill(120) })
      const fits = maxPayload - headerBytes
      yield* bus.publish(subject, withBody(fits))
      const tooBig = yield* reasonOf(bus.publish(subject, withBody(fits + 1)))
      assert.deepStrictEqual(
        tooBig._tag === "MessageTooLarge" ? { size: tooBig.size, max: tooBig.max } : tooBig._tag,
        { size: maxPayload + 1, max: maxPayload }
      )
      const raw = yield* reasonOf(bus.publishRaw(subject, { headers: {}, body: new Uint8Array(maxPayload + 10) }))
      assert.deepStrictEqual(raw._tag === "MessageTooLarge" ? raw.size : raw._tag, maxPayload + 10)
      assert.strictEqual((yield* reasonOf(bus.request(subject, withBody(fits + 1))))._tag, "MessageTooLarge")
      const got = yield* capture.waitFor(1, "5 seconds")
      yield* flush
      assert.strictEqual((yield* capture.messages).length, 1)
      assert.strictEqual(got[0]!.envelope.body.length, fits)
      assert.isFalse(client.isClosed())
      // A reply too large for the server is answered with an error reply instead.
      yield* bus.serve(`${subject}.svc`, (request) =>
        Effect.succeed({ ...envelope(2, { kind: "reply", causedBy: request.envelope }), body: new Uint8Array(maxPayload) }))
      const remote = yield* reasonOf(bus.request(`${subject}.svc`, envelope(3, { kind: "query" })))
      assert.strictEqual(remote._tag, "RemoteError")
      assert.include(remote._tag === "RemoteError" ? remote.detail : "", "cannot send the reply: message of")
    }))
})
