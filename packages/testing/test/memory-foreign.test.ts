/**
 * The in-memory transport accepts messages without Herald's headers exactly
 * where the NATS one does: only when a subscription, serve, request or
 * consumer opts in with `foreign`.
 */
import { Bus, EventLog, Foreign, Topology } from "@herald/transport"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import { run } from "./memory-helpers.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const plain = (value: unknown, headers: Record<string, string> = {}) => ({
  headers,
  body: encoder.encode(JSON.stringify(value))
})
const Placed = { type: "OrderPlaced", kind: "event" } as const

describe("MemoryTransport foreign messages", () => {
  it.effect("consume with foreign: every plain message handled once, ids stable across redelivery", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* Topology.ensure({
        streams: [{ name: "ORDERS", subjects: ["orders.>"] }, Topology.deadLetterStream()],
        consumers: [{ stream: "ORDERS", name: "c" }]
      })
      for (let n = 0; n < 100; n++) {
        yield* log.appendRaw("orders.placed", plain({ n }, n % 2 === 0 ? { "X-Event-ID": `ev-${n}` } : {}))
      }
      const seen = new Map<number, Array<string>>()
      const handle = yield* log.consume("ORDERS", "c", (delivery) =>
        Effect.gen(function*() {
          const { n } = JSON.parse(decoder.decode(delivery.envelope.body)) as { n: number }
          const ids = seen.get(n) ?? []
          seen.set(n, [...ids, delivery.envelope.identity.messageId])
          expect(delivery.envelope.type).toBe("OrderPlaced")
          // The first attempt of every tenth message fails: the redelivery keeps the id.
          if (n % 10 === 0 && ids.length === 0) return yield* Effect.fail(new Error("once"))
        }), { foreign: Foreign.accept(Placed, Foreign.cim), nakDelay: () => 0 })
      for (let i = 0; i < 10_000 && (yield* handle.stats).acked < 100; i++) yield* Effect.yieldNow
      const stats = yield* handle.stats
      expect(stats.acked).toBe(100)
      expect(stats.deadLettered).toBe(0)
      expect(seen.size).toBe(100)
      for (const [n, ids] of seen) {
        expect(ids.length).toBe(n % 10 === 0 ? 2 : 1)
        expect(new Set(ids).size).toBe(1)
        expect(ids[0]).toBe(n % 2 === 0 ? `ev-${n}` : `ORDERS:${n + 1}`)
      }
    })))

  it.effect("without foreign, a plain message is dead-lettered and never handled", () =>
    run(Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      yield* Topology.ensure({
        streams: [{ name: "ORDERS", subjects: ["orders.>"] }, Topology.deadLetterStream()],
        consumers: [{ stream: "ORDERS", name: "c" }]
      })
      yield* log.appendRaw("orders.placed", plain({ n: 1 }))
      let calls = 0
      const handle = yield* log.consume("ORDERS", "c", () => Effect.sync(() => calls++))
      for (let i = 0; i < 10_000 && (yield* handle.stats).deadLettered < 1; i++) yield* Effect.yieldNow
      expect((yield* handle.stats).deadLettered).toBe(1)
      expect(calls).toBe(0)
      const letters = yield* MemoryTransport.MemoryTransport.use((m) => m.streamMessages("HERALD_DLQ"))
      expect(letters.length).toBe(1)
    })))

  it.effect("subscribe and request with foreign; a strict subscription drops the plain message", () =>
    run(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const stream = yield* bus.subscribe("orders.>", { foreign: Foreign.accept(Placed, Foreign.cim) })
      const strict = yield* bus.subscribe("orders.>")
      const got = yield* Effect.forkScoped(Stream.runCollect(Stream.take(stream, 1)))
      const none = yield* Effect.forkScoped(Stream.runCollect(Stream.take(strict, 1)))
      yield* Effect.yieldNow
      yield* bus.publishRaw("orders.placed", plain({ n: 1 }, { "X-Correlation-ID": "flow-1" }))
      const [received] = yield* Fiber.join(got)
      expect(received!.envelope.identity.correlationId).toBe("flow-1")
      expect(received!.envelope.type).toBe("OrderPlaced")
      expect(none.pollUnsafe()).toBeUndefined()

      // A plain responder (it answers with publishRaw), read by a request that opts in.
      const questions = yield* bus.subscribe("status.>", { foreign: {} })
      yield* Effect.forkScoped(Stream.runForEach(questions, (q) => bus.publishRaw(q.replyTo!, plain({ ok: true }))))
      yield* Effect.yieldNow
      const asking = yield* Effect.forkScoped(
        bus.request("status.get", received!.envelope, {
          foreign: { as: { type: "Status", kind: "reply" } }
        })
      )
      const answer = yield* Fiber.join(asking)
      expect(JSON.parse(decoder.decode(answer.body))).toEqual({ ok: true })
      expect(answer.type).toBe("Status")
      expect(answer.identity.correlationId).toBe("flow-1")
      expect(answer.identity.causationId).toBe(received!.envelope.identity.messageId)
    })))
})
