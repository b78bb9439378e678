/**
 * The readiness checks of `/readyz` beyond the connection, on the memory
 * transport under `TestClock`: consumer runners (stalled, failed,
 * recovering), the outbox relay, the lag monitor.
 */
import { assert, describe, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { Outbox, OutboxMemory, OutboxRelay } from "@herald/outbox"
import { Fixtures, MemoryTransport } from "@herald/testing"
import { EventLog, Topology, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { LagMonitor, Metrics, MetricsHttp } from "../src/index.ts"
import { stalledRunner } from "./readiness.ts"

const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow, { discard: true })

/** A handle that shows a fixed state. */
const showing = (state: EventLog.ConsumerState): EventLog.ConsumerHandle => ({
  stats: Effect.succeed({ acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0, timedOut: 0 }),
  state: Effect.succeed(state),
  changes: Stream.make(state),
  await: Effect.never
})

describe("readiness checks", () => {
  it.effect("a stalled runner makes /readyz unready, naming it, until its handler stops", () =>
    stalledRunner({ stream: "JOBS", prefix: "", advance: TestClock.adjust }).pipe(
      Effect.provide(
        MetricsHttp.layer({ port: 0, host: "127.0.0.1", checks: [MetricsHttp.consumers()] }).pipe(
          Layer.provideMerge(Metrics.layer({ refreshInterval: "none" })),
          Layer.provideMerge(MemoryTransport.layer),
          Layer.provide(Layer.sync(Metric.MetricRegistry)(() => new Map()))
        )
      )
    ))

  it.effect("consumerHandles: failed and recovering runners are unready (recovering only past its grace)", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 minute")
      const now = 60_000
      const handles = [
        { stream: "A", consumer: "ok", handle: showing({ _tag: "Running", lastMessageAt: undefined, inFlight: 0, idleSince: 0 }) },
        {
          stream: "A",
          consumer: "reconnecting",
          handle: showing({
            _tag: "Recovering",
            reason: "Disconnected",
            detail: "the connection is lost",
            since: now - 5_000,
            lastMessageAt: undefined,
            inFlight: 0
          })
        },
        {
          stream: "B",
          consumer: "gone",
          handle: showing({
            _tag: "Failed",
            error: TransportError.make(new TransportError.StreamNotFound({ stream: "B" })),
            since: now
          })
        }
      ]
      const strict = yield* MetricsHttp.readiness([MetricsHttp.consumerHandles(handles, { name: "runners" })])
      assert.strictEqual(strict.status, "unready")
      assert.strictEqual(
        strict.checks[0]!.detail,
        "A/reconnecting recovering for 5 s (Disconnected: the connection is lost); " +
          `B/gone failed: ${TransportError.describe(TransportError.make(new TransportError.StreamNotFound({ stream: "B" })))}`
      )
      const lenient = yield* MetricsHttp.readiness([
        MetricsHttp.consumerHandles(handles.slice(0, 2), { recoveringGrace: "10 seconds" })
      ])
      assert.deepStrictEqual(lenient, { status: "ready", checks: [{ name: "consumers", ok: true, detail: "2 running" }] })
      // Idle is a warning, not a fault; no consumer at all is ready.
      assert.strictEqual((yield* MetricsHttp.readiness([MetricsHttp.consumerHandles([])])).status, "ready")
    }))

  it.effect("outbox: unready once the oldest pending message waited past the limit, ready when the relay sent it", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: "ORDERS", subjects: ["orders.>"] })
      const check = MetricsHttp.outbox({ status: Outbox.status, maxOldestAge: "1 minute" })
      assert.deepStrictEqual(yield* MetricsHttp.readiness([check]), {
        status: "ready",
        checks: [{ name: "outbox", ok: true, detail: "0 pending" }]
      })
      yield* OutboxMemory.transaction(Outbox.publish("orders.o-1", Fixtures.envelope({ identity: 1 })))
      yield* TestClock.adjust("60 seconds")
      assert.deepStrictEqual(yield* MetricsHttp.readiness([check]), {
        status: "ready",
        checks: [{ name: "outbox", ok: true, detail: "1 pending, the oldest for 60 s (limit 60 s)" }]
      })
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(yield* MetricsHttp.readiness([check]), {
        status: "unready",
        checks: [{ name: "outbox", ok: false, detail: "1 pending, the oldest for 90 s (limit 60 s)" }]
      })
      const relayed = yield* OutboxRelay.drain()
      assert.strictEqual(relayed.published, 1)
      assert.deepStrictEqual(yield* MetricsHttp.readiness([check]), {
        status: "ready",
        checks: [{ name: "outbox", ok: true, detail: "0 pending" }]
      })
      // A status that cannot be read is not ready.
      const failing = yield* MetricsHttp.readiness([
        MetricsHttp.outbox({ name: "orders-outbox", status: Effect.fail(new Error("relation outbox does not exist")), maxOldestAge: 1 })
      ])
      assert.deepStrictEqual(failing.checks, [{ name: "orders-outbox", ok: false, detail: "relation outbox does not exist" }])
    }).pipe(
      Effect.provide(Outbox.layer.pipe(Layer.provideMerge(OutboxMemory.layer))),
      Effect.provide(MemoryTransport.layer)
    ))

  it.effect("lag: unready while the monitor alerts for a consumer, ready once it cleared", () =>
    Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: "S", subjects: ["s.>"] })
      yield* topology.ensureConsumer({ stream: "S", name: "c" })
      const log = yield* EventLog.EventLog
      const lag = MetricsHttp.lag()
      const early = MetricsHttp.lag({ name: "lag-now", when: "above" })
      yield* Effect.forEach([1, 2, 3, 4, 5], (i) => log.append(`s.${i}`, Fixtures.envelope({ identity: i })), {
        discard: true
      })
      const monitor = yield* Layer.build(LagMonitor.layer({
        consumers: [{ stream: "S", consumer: "c", threshold: { pending: 3 }, for: "20 seconds" }],
        schedule: Schedule.spaced("10 seconds")
      }))
      const readiness = Effect.provideContext(MetricsHttp.readiness([lag, early]), monitor)
      yield* settle
      // Above since the first poll, not yet for 20 seconds: only `above` is unready.
      assert.deepStrictEqual((yield* readiness).checks, [
        { name: "lag", ok: true, detail: "1 under threshold" },
        { name: "lag-now", ok: false, detail: "S/c lagging: pending 5 (limit 3)" }
      ])
      yield* TestClock.adjust("10 seconds")
      yield* settle
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.deepStrictEqual(yield* readiness, {
        status: "unready",
        checks: [
          { name: "lag", ok: false, detail: "S/c lagging: pending 5 (limit 3)" },
          { name: "lag-now", ok: false, detail: "S/c lagging: pending 5 (limit 3)" }
        ]
      })
      const batch = yield* log.pull("S", "c", { batch: 5 })
      yield* Effect.forEach(batch, (d) => d.ack, { discard: true })
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.deepStrictEqual(yield* readiness, {
        status: "ready",
        checks: [
          { name: "lag", ok: true, detail: "1 under threshold" },
          { name: "lag-now", ok: true, detail: "1 under threshold" }
        ]
      })
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(MemoryTransport.layer, IdGenerator.layer)),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})
