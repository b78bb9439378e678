/**
 * The outbox on the memory store and the in-memory EventLog: the shared
 * suite (TestClock-driven), plus what only the memory store shows.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import { Envelope, TraceContext } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import { Outbox, OutboxMemory, OutboxRelay } from "../src/index.ts"
import { AppendLog, counting, ensureStream, envelope } from "./helpers.ts"
import { suite } from "./suite.ts"

const env = () =>
  Layer.mergeAll(Outbox.layer.pipe(Layer.provideMerge(OutboxMemory.layer)), counting(MemoryTransport.layer))

describe("Outbox on the memory store", () => {
  suite({
    env,
    transaction: OutboxMemory.transaction,
    effect: (name, f) => it.effect(name, f),
    live: (name, f) => it.live(name, f)
  })

  it.effect("the rows show state, attempts, last error and leases", () =>
    Effect.gen(function*() {
      yield* ensureStream("ORDERS", ["orders.>"])
      yield* Outbox.publish("orders.placed", envelope(1))
      const log = yield* AppendLog
      log.failNext = 1
      yield* OutboxRelay.drain()
      let [row] = yield* OutboxMemory.OutboxMemory.use((m) => m.rows)
      assert.strictEqual(row!.state, "pending")
      assert.strictEqual(row!.attempts, 1)
      assert.strictEqual(row!.availableAt, 500)
      assert.isUndefined(row!.leaseOwner)
      assert.match(row!.lastError ?? "", /injected failure/)
      yield* TestClock.adjust("500 millis")
      yield* OutboxRelay.drain()
      ;[row] = yield* OutboxMemory.OutboxMemory.use((m) => m.rows)
      assert.strictEqual(row!.state, "sent")
      assert.strictEqual(row!.attempts, 2)
      assert.strictEqual(row!.sentAt, 500)
    }).pipe(Effect.provide(env())))

  it.effect("the stored headers carry the trace context of Outbox.publish's span, unless the message has its own", () =>
    Effect.gen(function*() {
      const outer = yield* Effect.currentSpan
      yield* Outbox.publish("orders.placed", envelope(1))
      const own = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      yield* Outbox.publishAll([
        { subject: "orders.placed", envelope: envelope(2) },
        { subject: "orders.placed", envelope: Envelope.withHeaders(envelope(3), { traceparent: own }) }
      ])
      const rows = yield* OutboxMemory.OutboxMemory.use((m) => m.rows)
      assert.strictEqual(rows.length, 3)
      const parents = rows.map((row) => Option.getOrThrow(TraceContext.parentOf(row.raw.headers)))
      // Each is the context of a span inside the caller's: the same trace, a span of its own.
      for (const parent of parents.slice(0, 2)) {
        assert.strictEqual(parent.traceId, outer.traceId)
        assert.notStrictEqual(parent.spanId, outer.spanId)
      }
      assert.notStrictEqual(parents[0]!.spanId, parents[1]!.spanId)
      assert.strictEqual(rows[2]!.raw.headers["traceparent"], own)
    }).pipe(Effect.withSpan("place order"), Effect.provide(env())))
})
