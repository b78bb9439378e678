/**
 * Conformance tests of the `Bus`: publish/subscribe, wildcards, queue groups,
 * unsubscribe, request/reply and its failures, invalid messages and subjects.
 *
 * @internal
 */
import { Bus, Wire } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Capture from "../../Capture.ts"
import type { SuiteContext } from "./context.ts"
import { failsWith, nOf, reasonOf } from "./kit.ts"

const count = (capture: Capture.Capture) => Effect.map(capture.messages, (ms) => ms.length)

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("publish/subscribe: a subscriber gets exactly the messages of its subject, in order", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const a = kit.subject("orders", "a")
      const capture = yield* Capture.make(a)
      // Nobody listening is not an error.
      yield* bus.publish(kit.subject("nobody"), kit.envelope(0))
      for (let n = 1; n <= 3; n++) yield* bus.publish(a, kit.envelope(n))
      yield* bus.publish(kit.subject("orders", "b"), kit.envelope(4))
      yield* kit.eventually(count(capture), (k) => k >= 3, { what: "3 messages" })
      yield* kit.advance("300 millis")
      const got = yield* capture.messages
      assert.deepStrictEqual(got.map(nOf), [1, 2, 3])
      assert.deepStrictEqual(got.map((m) => m.subject), [a, a, a])
      assert.deepStrictEqual(got.map((m) => m.replyTo), [undefined, undefined, undefined])
      const sent = kit.envelope(1)
      const first = got[0]!.envelope
      assert.strictEqual(first.identity.messageId, sent.identity.messageId)
      assert.strictEqual(first.identity.correlationId, sent.identity.correlationId)
      assert.strictEqual(first.identity.causationId, sent.identity.causationId)
      assert.strictEqual(first.type, sent.type)
      assert.strictEqual(first.kind, sent.kind)
      assert.strictEqual(first.occurredAt, sent.occurredAt)
      assert.strictEqual(first.contentType, sent.contentType)
      assert.deepStrictEqual(first.headers, sent.headers)
      assert.deepStrictEqual([...first.body], [...sent.body])
    }))

  test("wildcard subscriptions: `*` matches one token, `>` one or more", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const star = yield* Capture.make(kit.subject("*", "created"))
      const tail = yield* Capture.make(kit.subject(">"))
      yield* bus.publish(kit.subject("orders", "created"), kit.envelope(1))
      yield* bus.publish(kit.subject("users", "created"), kit.envelope(2))
      yield* bus.publish(kit.subject("orders", "shipped"), kit.envelope(3))
      yield* bus.publish(kit.subject("orders", "eu", "created"), kit.envelope(4))
      yield* kit.eventually(
        Effect.zip(count(star), count(tail)),
        ([s, t]) => s >= 2 && t >= 4,
        { what: "wildcard deliveries" }
      )
      yield* kit.advance("300 millis")
      assert.deepStrictEqual((yield* star.messages).map(nOf), [1, 2])
      assert.deepStrictEqual((yield* tail.messages).map(nOf), [1, 2, 3, 4])
    }))

  test("queue group: each message goes to exactly one member; plain subscribers get them all", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("jobs")
      const members = [
        yield* Capture.make(subject, { queue: "workers" }),
        yield* Capture.make(subject, { queue: "workers" }),
        yield* Capture.make(subject, { queue: "workers" })
      ]
      const plain = yield* Capture.make(subject)
      for (let n = 1; n <= 30; n++) yield* bus.publish(subject, kit.envelope(n))
      const total = Effect.map(Effect.forEach(members, count), (ks) => ks.reduce((a, b) => a + b, 0))
      yield* kit.eventually(Effect.zip(total, count(plain)), ([t, p]) => t >= 30 && p >= 30, {
        what: "30 messages shared by the group"
      })
      yield* kit.advance("300 millis")
      const shared = (yield* Effect.forEach(members, (m) => m.messages)).flat().map(nOf).sort((a, b) => a - b)
      assert.deepStrictEqual(shared, Array.from({ length: 30 }, (_, i) => i + 1))
      assert.deepStrictEqual((yield* plain.messages).map(nOf), Array.from({ length: 30 }, (_, i) => i + 1))
    }), { feature: "queueGroups" })

  test("closing the subscription's scope unsubscribes and ends its stream", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("orders")
      const inner = yield* Scope.make()
      const stream = yield* Scope.provide(inner)(bus.subscribe(subject))
      const got: Array<number> = []
      const reader = yield* Effect.forkChild(Stream.runForEach(stream, (m) => Effect.sync(() => void got.push(nOf(m)))))
      yield* bus.publish(subject, kit.envelope(1))
      yield* kit.eventually(Effect.sync(() => got.length), (k) => k >= 1, { what: "the first message" })
      yield* Scope.close(inner, Exit.void)
      yield* kit.eventually(Effect.sync(() => reader.pollUnsafe() !== undefined), (ended) => ended, {
        what: "the stream ended"
      })
      yield* bus.publish(subject, kit.envelope(2))
      yield* bus.publish(subject, kit.envelope(3))
      yield* kit.advance("300 millis")
      assert.deepStrictEqual(got, [1])
    }))

  test("a subscriber that does not keep up keeps only the newest bufferSize messages", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("fast")
      const stream = yield* bus.subscribe(subject, { bufferSize: 2 })
      for (let n = 1; n <= 5; n++) yield* bus.publish(subject, kit.envelope(n))
      yield* kit.advance("300 millis")
      const got = yield* kit.drive(Stream.runCollect(Stream.take(stream, 2)), { what: "reading the buffer" })
      assert.deepStrictEqual(got.map(nOf), [4, 5])
    }))

  test("request/reply: the responder's reply comes back to the requester", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "double")
      const seen: Array<Bus.Received> = []
      yield* bus.serve(subject, (request) =>
        Effect.sync(() => {
          seen.push(request)
          return kit.envelope(100 + nOf(request), {
            kind: "reply",
            type: "herald.conformance.Pong",
            causedBy: request.envelope,
            body: { n: nOf(request) * 2 }
          })
        }))
      const request = kit.envelope(21, { kind: "query" })
      const reply = yield* kit.drive(bus.request(subject, request, { timeout: "2 seconds" }), { what: "request" })
      assert.strictEqual(nOf({ envelope: reply }), 42)
      assert.strictEqual(reply.kind, "reply")
      assert.strictEqual(reply.type, "herald.conformance.Pong")
      assert.strictEqual(reply.identity.messageId, kit.envelope(121).identity.messageId)
      assert.strictEqual<string>(reply.identity.causationId, request.identity.messageId)
      assert.strictEqual(reply.identity.correlationId, request.identity.correlationId)
      assert.strictEqual(seen.length, 1)
      assert.strictEqual(seen[0]!.subject, subject)
      assert.strictEqual(seen[0]!.envelope.identity.messageId, request.identity.messageId)
      assert.isString(seen[0]!.replyTo)
      // Served in turn, more than once.
      const second = yield* kit.drive(bus.request(subject, kit.envelope(5, { kind: "query" })), { what: "request" })
      assert.strictEqual(nOf({ envelope: second }), 10)
      assert.strictEqual(seen.length, 2)
    }))

  test("serve does not handle a published message without a reply subject", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "echo")
      const seen: Array<number> = []
      yield* bus.serve(subject, (request) =>
        Effect.sync(() => {
          seen.push(nOf(request))
          return kit.envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
        }))
      yield* bus.publish(subject, kit.envelope(1))
      const reply = yield* kit.drive(bus.request(subject, kit.envelope(2, { kind: "query" })), { what: "request" })
      assert.strictEqual(reply.identity.messageId, kit.envelope(102).identity.messageId)
      // The request was served after the plain publish, which was not handled.
      assert.deepStrictEqual(seen, [2])
    }))

  test("request fails with Timeout when no reply comes in time", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "slow")
      yield* bus.serve(subject, (request) =>
        Effect.as(Effect.sleep("10 seconds"), kit.envelope(2, { kind: "reply", causedBy: request.envelope })))
      const reason = yield* failsWith(
        kit.drive(bus.request(subject, kit.envelope(1, { kind: "query" }), { timeout: "500 millis" }), {
          what: "request"
        }),
        "Timeout"
      )
      assert.strictEqual(reason.millis, 500)
    }))

  test("request fails with NoResponders when nobody serves the subject", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "nobody")
      const reason = yield* failsWith(
        kit.drive(bus.request(subject, kit.envelope(1, { kind: "query" }), { timeout: "5 seconds" }), {
          what: "request",
          limit: "2 seconds"
        }),
        "NoResponders"
      )
      assert.strictEqual(reason.subject, subject)
    }), { feature: "noResponders" })

  test("request fails with RemoteError when the responder fails", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "broken")
      let calls = 0
      yield* bus.serve(subject, () =>
        Effect.suspend(() => {
          calls++
          return Effect.fail(new Error("boom: the responder broke"))
        }))
      const reason = yield* failsWith(
        kit.drive(bus.request(subject, kit.envelope(1, { kind: "query" }), { timeout: "2 seconds" }), {
          what: "request"
        }),
        "RemoteError"
      )
      assert.strictEqual(reason.subject, subject)
      assert.include(reason.detail, "boom")
      assert.strictEqual(calls, 1)
      // The responder keeps serving after a failure.
      yield* failsWith(
        kit.drive(bus.request(subject, kit.envelope(2, { kind: "query" }), { timeout: "2 seconds" }), {
          what: "request"
        }),
        "RemoteError"
      )
      assert.strictEqual(calls, 2)
    }))

  test("serve handles one request at a time by default, and up to its concurrency", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const run = (subject: string, concurrency: number | undefined) =>
        Effect.gen(function*() {
          let running = 0
          let maxRunning = 0
          yield* bus.serve(subject, (request) =>
            Effect.gen(function*() {
              running++
              maxRunning = Math.max(maxRunning, running)
              yield* Effect.sleep("500 millis")
              running--
              return kit.envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
            }), concurrency === undefined ? undefined : { concurrency })
          const replies = yield* kit.drive(
            Effect.all([1, 2, 3].map((n) => bus.request(subject, kit.envelope(n, { kind: "query" }), { timeout: "5 seconds" })), {
              concurrency: "unbounded"
            }),
            { what: "three requests" }
          )
          assert.deepStrictEqual(replies.map((r) => nOf({ envelope: r })), [101, 102, 103])
          return maxRunning
        })
      assert.strictEqual(yield* run(kit.subject("svc", "one"), undefined), 1)
      assert.strictEqual(yield* run(kit.subject("svc", "three"), 3), 3)
    }))

  test("serve with a queue group: each request is handled by exactly one member", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("svc", "shared")
      const handled: Array<Array<number>> = [[], []]
      for (const i of [0, 1]) {
        yield* bus.serve(subject, (request) =>
          Effect.sync(() => {
            handled[i]!.push(nOf(request))
            return kit.envelope(100 + nOf(request), { kind: "reply", causedBy: request.envelope })
          }), { queue: "svc" })
      }
      for (let n = 1; n <= 10; n++) {
        const reply = yield* kit.drive(bus.request(subject, kit.envelope(n, { kind: "query" })), { what: "request" })
        assert.strictEqual<string>(reply.identity.causationId, kit.envelope(n).identity.messageId)
      }
      assert.deepStrictEqual(handled.flat().sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }), { feature: "queueGroups" })

  test("a message that is not a valid envelope is not emitted but given to onInvalid", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = kit.subject("orders")
      const capture = yield* Capture.make(subject)
      const encoded = Wire.encode(kit.envelope(1))
      if (Result.isFailure(encoded)) return yield* Effect.die(encoded.failure)
      const headers = { ...encoded.success.headers }
      delete headers[Wire.HeaderNames.messageId]
      yield* bus.publishRaw(subject, { headers, body: encoded.success.body })
      // A raw message that is a valid envelope is emitted.
      const valid = Wire.encode(kit.envelope(2))
      if (Result.isFailure(valid)) return yield* Effect.die(valid.failure)
      yield* bus.publishRaw(subject, valid.success)
      yield* kit.eventually(
        Effect.zip(count(capture), Effect.map(capture.invalid, (i) => i.length)),
        ([m, i]) => m >= 1 && i >= 1,
        { what: "one message and one invalid" }
      )
      yield* kit.advance("300 millis")
      assert.deepStrictEqual((yield* capture.messages).map(nOf), [2])
      const invalid = yield* capture.invalid
      assert.strictEqual(invalid.length, 1)
      assert.strictEqual(invalid[0]!.subject, subject)
      const reason = reasonOf(invalid[0]!.error)
      assert.strictEqual(reason._tag, "DecodeError")
      assert.strictEqual(reason._tag === "DecodeError" ? reason.header : undefined, Wire.HeaderNames.messageId)
    }))

  test("an invalid subject or pattern fails with InvalidSubject before anything is sent", (kit) =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const tail = yield* Capture.make(kit.subject(">"))
      const badSubjects = [`${kit.prefix}..orders`, kit.subject("orders", "*"), kit.subject(">"), `${kit.prefix} orders`, ""]
      for (const subject of badSubjects) {
        assert.strictEqual((yield* failsWith(bus.publish(subject, kit.envelope(1)), "InvalidSubject")).subject, subject)
        const raw = Wire.encode(kit.envelope(1))
        if (Result.isSuccess(raw)) yield* failsWith(bus.publishRaw(subject, raw.success), "InvalidSubject")
        yield* failsWith(
          kit.drive(bus.request(subject, kit.envelope(1), { timeout: "100 millis" }), { what: "request" }),
          "InvalidSubject"
        )
      }
      for (const pattern of [kit.subject(">", "orders"), `${kit.prefix}.or*ders`, `${kit.prefix}..x`, ""]) {
        yield* failsWith(Effect.scoped(bus.subscribe(pattern)), "InvalidSubject")
        yield* failsWith(Effect.scoped(bus.serve(pattern, (r) => Effect.succeed(r.envelope))), "InvalidSubject")
      }
      yield* kit.advance("300 millis")
      assert.deepStrictEqual(yield* tail.messages, [])
    }))
}
