import { Bus, EventLog, Topology, Wire } from "@herald/transport"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import { envelope, nOf, reasonOf, run } from "./memory-helpers.ts"

/** Subscribes in its own scope; `drain` closes the subscription and returns everything it buffered. */
const subscription = (pattern: string, options?: Bus.SubscribeOptions) =>
  Effect.gen(function*() {
    const bus = yield* Bus.Bus
    const scope = yield* Scope.make()
    const stream = yield* Scope.provide(scope)(bus.subscribe(pattern, options))
    const drain = Effect.andThen(Scope.close(scope, Exit.void), Stream.runCollect(stream))
    return { stream, drain }
  })

describe("MemoryTransport Bus", () => {
  it.effect("queue groups: each message to one member of each group, round-robin; plain subscribers get all", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const workers = [
        yield* subscription("jobs.*", { queue: "workers" }),
        yield* subscription("jobs.*", { queue: "workers" }),
        yield* subscription("jobs.*", { queue: "workers" })
      ]
      const auditors = [
        yield* subscription("jobs.>", { queue: "auditors" }),
        yield* subscription("jobs.>", { queue: "auditors" })
      ]
      const plain = yield* subscription("jobs.run")
      for (let n = 1; n <= 30; n++) yield* bus.publish("jobs.run", envelope(n))
      const got = (yield* Effect.forEach([...workers, ...auditors, plain], (s) => s.drain)).map((ms) => ms.map(nOf))
      expect(got.map((ms) => ms.length)).toEqual([10, 10, 10, 15, 15, 30])
      // Round-robin: member i of a group of k gets messages i+1, i+1+k, ...
      expect(got[0]).toEqual([1, 4, 7, 10, 13, 16, 19, 22, 25, 28])
      expect(got[1]).toEqual([2, 5, 8, 11, 14, 17, 20, 23, 26, 29])
      expect(got[3]).toEqual(Array.from({ length: 15 }, (_, i) => 2 * i + 1))
      expect([...got[0]!, ...got[1]!, ...got[2]!].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1)
      )
      expect(got[5]).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    })))

  it.effect("a queue group member that leaves no longer gets messages", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const a = yield* subscription("jobs", { queue: "q" })
      const b = yield* subscription("jobs", { queue: "q" })
      for (let n = 1; n <= 4; n++) yield* bus.publish("jobs", envelope(n))
      expect((yield* b.drain).map(nOf)).toEqual([2, 4])
      for (let n = 5; n <= 7; n++) yield* bus.publish("jobs", envelope(n))
      expect((yield* a.drain).map(nOf)).toEqual([1, 3, 5, 6, 7])
    })))

  it.effect("a slow subscriber's buffer keeps the newest bufferSize messages", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const small = yield* subscription("metrics", { bufferSize: 3 })
      for (let n = 1; n <= 10; n++) yield* bus.publish("metrics", envelope(n))
      expect((yield* small.drain).map(nOf)).toEqual([8, 9, 10])
    })))

  it.effect("closing the scope removes the subscription and ends its stream", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const memory = yield* MemoryTransport.MemoryTransport
      expect(yield* memory.subscriptions).toBe(0)
      const scope = yield* Scope.make()
      const stream = yield* Scope.provide(scope)(bus.subscribe("a.>"))
      yield* Scope.provide(scope)(bus.serve("svc", (r) => Effect.succeed(r.envelope)))
      expect(yield* memory.subscriptions).toBe(2)
      yield* bus.publish("a.b", envelope(1))
      yield* Scope.close(scope, Exit.void)
      expect(yield* memory.subscriptions).toBe(0)
      yield* bus.publish("a.b", envelope(2))
      expect((yield* Stream.runCollect(stream)).map(nOf)).toEqual([1])
    })))

  it.effect("undecodable messages go to onInvalid and are not emitted", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const invalid: Array<[string, string]> = []
      const sub = yield* subscription("in.>", {
        onInvalid: (subject, error) =>
          Effect.sync(() => {
            invalid.push([subject, error.reason._tag])
          })
      })
      const raw = Wire.encode(envelope(1))
      if (Result.isFailure(raw)) return yield* Effect.die(raw.failure)
      yield* bus.publishRaw("in.bad", { headers: { ...raw.success.headers, [Wire.HeaderNames.kind]: "gossip" }, body: raw.success.body })
      yield* bus.publishRaw("in.good", raw.success)
      yield* bus.publishRaw("in.none", { headers: {}, body: new Uint8Array([1, 2, 3]) })
      expect((yield* sub.drain).map((m) => [m.subject, nOf(m)])).toEqual([["in.good", 1]])
      expect(invalid).toEqual([["in.bad", "DecodeError"], ["in.none", "DecodeError"]])
    })))

  it.effect("invalid header names are refused with EncodeError", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const exit = yield* Effect.exit(bus.publishRaw("x", { headers: { "bad name": "v" }, body: new Uint8Array() }))
      expect(reasonOf(exit)._tag).toBe("EncodeError")
    })))

  it.effect("request: times out after 5 seconds by default, driven by the TestClock", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const memory = yield* MemoryTransport.MemoryTransport
      yield* bus.serve("svc.slow", () => Effect.never)
      const fiber = yield* Effect.forkChild(bus.request("svc.slow", envelope(1)))
      yield* TestClock.adjust("4999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      expect(yield* memory.subscriptions).toBe(2) // the responder and the request's inbox
      yield* TestClock.adjust("1 millis")
      const reason = reasonOf(yield* Fiber.await(fiber))
      expect(reason._tag).toBe("Timeout")
      expect(reason._tag === "Timeout" ? reason.millis : 0).toBe(5000)
      expect(yield* memory.subscriptions).toBe(1)
      // An explicit timeout.
      const short = yield* Effect.forkChild(bus.request("svc.slow", envelope(2), { timeout: "250 millis" }))
      yield* TestClock.adjust("250 millis")
      const shortReason = reasonOf(yield* Fiber.await(short))
      expect(shortReason._tag === "Timeout" ? shortReason.millis : 0).toBe(250)
    })))

  it.effect("request: NoResponders at once when nothing subscribes to the subject", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const exit = yield* Effect.exit(bus.request("svc.none", envelope(1)))
      const reason = reasonOf(exit)
      expect(reason._tag).toBe("NoResponders")
      expect(reason._tag === "NoResponders" ? reason.subject : "").toBe("svc.none")
      // A plain subscriber is a responder too (it could answer): the request times out instead.
      yield* subscription("svc.none")
      const fiber = yield* Effect.forkChild(bus.request("svc.none", envelope(2), { timeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      expect(reasonOf(yield* Fiber.await(fiber))._tag).toBe("Timeout")
    })))

  it.effect("request/serve: the reply comes back; a failing handler answers with an error reply (RemoteError)", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      yield* bus.serve("svc.double", (request) => Effect.succeed(envelope(100, { n: nOf(request) * 2 })))
      yield* bus.serve("svc.fail", () => Effect.fail(new Error("boom")))
      yield* bus.serve("svc.die", () => Effect.die(new Error("kaput")))
      const reply = yield* bus.request("svc.double", envelope(21))
      expect(nOf({ envelope: reply })).toBe(42)
      const failed = reasonOf(yield* Effect.exit(bus.request("svc.fail", envelope(1))))
      expect(failed).toMatchObject({ _tag: "RemoteError", subject: "svc.fail", detail: "boom" })
      const died = reasonOf(yield* Effect.exit(bus.request("svc.die", envelope(2))))
      expect(died._tag).toBe("RemoteError")
      expect(died._tag === "RemoteError" ? died.detail : "").toContain("kaput")
      // The error reply is an envelope carrying Herald-Error, derived from the request.
      const spy = yield* subscription("_INBOX.>")
      yield* Effect.exit(bus.request("svc.fail", envelope(3)))
      const [errorReply] = yield* spy.drain
      expect(errorReply!.envelope.headers[Wire.HeaderNames.error]).toBe("boom")
      expect(errorReply!.envelope.identity.causationId).toBe(envelope(3).identity.messageId)
      expect(errorReply!.envelope.kind).toBe("reply")
    })))

  it.effect("serve: concurrency bounds the handlers running at once; a queue group shares the requests", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      let running = 0
      let maxRunning = 0
      const served: Array<Array<number>> = [[], []]
      for (const i of [0, 1]) {
        yield* bus.serve("svc.work", (request) =>
          Effect.gen(function*() {
            running++
            maxRunning = Math.max(maxRunning, running)
            served[i]!.push(nOf(request))
            yield* Effect.sleep("1 second")
            running--
            return request.envelope
          }), { queue: "workers", concurrency: 2 })
      }
      const fibers = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i + 1),
        (n) => Effect.forkChild(bus.request("svc.work", envelope(n), { timeout: "10 seconds" }))
      )
      yield* TestClock.adjust("1 second")
      expect(maxRunning).toBe(4)
      yield* TestClock.adjust("1 second")
      const replies = yield* Effect.forEach(fibers, Fiber.join)
      expect(replies.map((r) => nOf({ envelope: r }))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      expect(served).toEqual([[1, 3, 5, 7], [2, 4, 6, 8]])
    })))

  it.effect("a stream append is delivered to core subscribers; a core publish is stored by the stream", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const log = yield* EventLog.EventLog
      const memory = yield* MemoryTransport.MemoryTransport
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: "ORDERS", subjects: ["orders.>"] })
      const sub = yield* subscription("orders.*")
      yield* log.append("orders.created", envelope(1))
      yield* log.append("orders.shipped", envelope(2))
      yield* bus.publish("orders.paid", envelope(3))
      // A duplicate core publish is delivered again, but stored once.
      yield* bus.publish("orders.paid", envelope(3))
      // A publish nobody captures is just delivered.
      yield* bus.publish("elsewhere", envelope(4))
      const got = yield* sub.drain
      expect(got.map((m) => [m.subject, nOf(m), m.replyTo])).toEqual([
        ["orders.created", 1, undefined],
        ["orders.shipped", 2, undefined],
        ["orders.paid", 3, undefined],
        ["orders.paid", 3, undefined]
      ])
      const stored = yield* memory.streamMessages("ORDERS")
      expect(stored.map((m) => [m.sequence, m.subject])).toEqual([
        [1, "orders.created"],
        [2, "orders.shipped"],
        [3, "orders.paid"]
      ])
      const again = yield* log.append("orders.paid", envelope(3))
      expect(again).toEqual({ stream: "ORDERS", sequence: 3, duplicate: true })
    })))

  it.effect("a core publish into a full discard-new stream is not an error", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const log = yield* EventLog.EventLog
      yield* Topology.Topology.use((t) =>
        t.ensureStream({ name: "TINY", subjects: ["tiny.>"], maxMessages: 1, discard: "new" })
      )
      yield* bus.publish("tiny.a", envelope(1))
      yield* bus.publish("tiny.a", envelope(2))
      expect((yield* log.info("TINY")).messages).toBe(1)
      const refused = reasonOf(yield* Effect.exit(log.append("tiny.a", envelope(3))))
      expect(refused).toMatchObject({ _tag: "LimitExceeded", stream: "TINY", limit: "maxMessages" })
    })))

  it.effect("maxPayload: a larger message fails with MessageTooLarge (default 1 MiB)", () =>
    Effect.gen(function*() {
      const big = (bytes: number) => envelope(1, "x".repeat(bytes))
      const small = yield* run(
        Effect.gen(function*() {
          const bus = yield* Bus.Bus
          return reasonOf(yield* Effect.exit(bus.publish("a", big(200))))
        }),
        MemoryTransport.layerWith({ maxPayload: 100 })
      )
      expect(small._tag).toBe("MessageTooLarge")
      expect(small._tag === "MessageTooLarge" ? small.max : 0).toBe(100)
      yield* run(Effect.gen(function*() {
        const bus = yield* Bus.Bus
        const log = yield* EventLog.EventLog
        const memory = yield* MemoryTransport.MemoryTransport
        expect(memory.options.maxPayload).toBe(1024 * 1024)
        yield* bus.publish("a", big(1024 * 1024 - 1000))
        const tooLarge = reasonOf(yield* Effect.exit(bus.publish("a", big(1024 * 1024))))
        expect(tooLarge._tag).toBe("MessageTooLarge")
        yield* Topology.Topology.use((t) => t.ensureStream({ name: "A", subjects: ["a"] }))
        expect(reasonOf(yield* Effect.exit(log.append("a", big(1024 * 1024))))._tag).toBe("MessageTooLarge")
        expect((yield* log.info("A")).messages).toBe(0)
      }))
    }))

  it.effect("invalid subjects and patterns fail with InvalidSubject", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      expect(reasonOf(yield* Effect.exit(bus.publish("a.*", envelope(1))))._tag).toBe("InvalidSubject")
      expect(reasonOf(yield* Effect.exit(bus.request("a..b", envelope(1))))._tag).toBe("InvalidSubject")
      expect(reasonOf(yield* Effect.exit(Effect.scoped(bus.subscribe("a.>.b")))))
        .toMatchObject({ _tag: "InvalidSubject", subject: "a.>.b" })
    })))
})
