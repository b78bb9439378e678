/**
 * The CPU cost per message of `Tracing.layer()` without a server or a
 * network: `Bus.publish` + `Bus.subscribe` on the in-memory transport
 * (`@herald/testing`'s `MemoryTransport`), with the layer off and on, and
 * the parts of a traced message on their own (a producer span entered and
 * its `traceparent` written; a `traceparent` parsed).
 *
 *   node --conditions=@herald/source src/micro/tracing.ts
 *
 * Effect's default tracer: spans made and ended, exported nowhere.
 */
import { Tracing } from "@herald/metrics"
import { MemoryTransport } from "@herald/testing"
import { Bus, TraceContext } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { envelope } from "../fixtures.ts"
import { measure, measureAsync } from "./timing.ts"

const N = 20_000
const indexes = Array.from({ length: N }, (_, i) => i)
const event = envelope("event")

const pubsub = (on: boolean) => {
  const layer = on ? Tracing.layer().pipe(Layer.provideMerge(MemoryTransport.layer)) : MemoryTransport.layer
  let run = 0
  return () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const subject = `micro.tracing.${run++}`
      const stream = yield* bus.subscribe(subject)
      const reader = yield* Effect.forkScoped(Stream.runDrain(Stream.take(stream, N)))
      yield* Effect.yieldNow
      yield* Effect.forEach(indexes, () => bus.publish(subject, event), { discard: true })
      yield* Fiber.join(reader)
    }).pipe(Effect.provide(layer))))
}

const off = await measureAsync("publish + subscribe, in memory, tracing off", N, pubsub(false))
const on = await measureAsync("publish + subscribe, in memory, Tracing.layer()", N, pubsub(true))
console.log(`${"tracing's share per message".padEnd(64)} ${(on - off).toFixed(0).padStart(7)} ns (on / off ${(off / on).toFixed(3)})`)

const noStack = { captureStackTrace: false } as const
const producer = Effect.useSpan(
  "send x",
  { kind: "producer" },
  (span) => Effect.withParentSpan(Effect.sync(() => TraceContext.toHeaders(span)), span, noStack)
)
await measureAsync(
  "a producer span entered, its traceparent written",
  N,
  () => Effect.runPromise(Effect.forEach(indexes, () => producer, { discard: true }))
)
const headers = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }
measure("TraceContext.parentOf (a valid traceparent)", 200_000, () => TraceContext.parentOf(headers))
