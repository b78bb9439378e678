/**
 * Per-call and per-element overhead of the Effect machinery on the Bus's hot
 * paths, without a server:
 *
 *   node --conditions=@herald/source src/micro/effect.ts
 *
 * - publish: `Effect.fn("name")` (a span and two stack captures per call)
 *   against `Effect.fnUntraced` and a plain `Effect.suspend`, each wrapping
 *   the same `Effect.try` of a no-op, driven by `Effect.forEach`.
 * - subscribe: a sliding `Queue` read through `Stream.fromQueue`, then
 *   `Stream.filterMapEffect` (an Effect per element, as `NatsBus.subscribe`
 *   does) against `Stream.filterMap` (a pure function per element, with the
 *   invalid ones handled on a side path), then `Stream.take` + `runDrain`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { measureAsync } from "./timing.ts"

const N = 100_000
const indexes = Array.from({ length: N }, (_, i) => i)
let sink = 0
const work = () => {
  sink++
}

const traced = Effect.fn("Bench.publish")(function*(_subject: string, _i: number) {
  return yield* Effect.try({ try: work, catch: (e) => e })
})
const untraced = Effect.fnUntraced(function*(_subject: string, _i: number) {
  return yield* Effect.try({ try: work, catch: (e) => e })
})
const anonymous = Effect.fn(function*(_subject: string, _i: number) {
  return yield* Effect.try({ try: work, catch: (e) => e })
})
const spanOnly = (_subject: string, _i: number) =>
  Effect.withSpan(Effect.suspend(() => Effect.try({ try: work, catch: (e) => e })), "Bench.publish")
const plain = (_subject: string, _i: number) => Effect.suspend(() => Effect.try({ try: work, catch: (e) => e }))
const bare = (_subject: string, _i: number) => Effect.sync(work)

const run = <A, E>(e: Effect.Effect<A, E>) => () => Effect.runPromise(e)

console.log("-- per publish call, in Effect.forEach")
await measureAsync("plain JS loop calling the same function", N, async () => {
  for (let i = 0; i < N; i++) work()
})
await measureAsync("Effect.sync", N, run(Effect.forEach(indexes, (i) => bare("s", i), { discard: true })))
await measureAsync("Effect.suspend + Effect.try", N, run(Effect.forEach(indexes, (i) => plain("s", i), { discard: true })))
await measureAsync("Effect.fnUntraced + Effect.try", N, run(Effect.forEach(indexes, (i) => untraced("s", i), { discard: true })))
await measureAsync("Effect.fn(\"name\") + Effect.try (span per call)", N, run(Effect.forEach(indexes, (i) => traced("s", i), { discard: true })))
await measureAsync("  Effect.fn without a name (stack captures, no span)", N, run(Effect.forEach(indexes, (i) => anonymous("s", i), { discard: true })))
await measureAsync("  Effect.withSpan around suspend + try (span, no stack capture)", N, run(Effect.forEach(indexes, (i) => spanOnly("s", i), { discard: true })))
{
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  await measureAsync("  Effect.fn(\"name\") with Error.stackTraceLimit = 0", N, run(Effect.forEach(indexes, (i) => traced("s", i), { discard: true })))
  Error.stackTraceLimit = limit
}

console.log("-- per received element: Queue -> Stream -> take -> runDrain")
const through = (pipe: (s: Stream.Stream<number>) => Stream.Stream<number>) =>
  Effect.gen(function*() {
    const q = yield* Queue.sliding<number, Cause.Done>(2 * N)
    const fiber = yield* Effect.forkChild(Stream.runDrain(Stream.take(pipe(Stream.fromQueue(q)), N)))
    for (let i = 0; i < N; i++) Queue.offerUnsafe(q, i)
    yield* Effect.yieldNow
    return yield* fiberJoin(fiber)
  })
import * as Fiber from "effect/Fiber"
const fiberJoin = Fiber.join

await measureAsync("Stream.fromQueue only", N, run(through((s) => s)))
await measureAsync("+ Stream.filterMap (pure)", N, run(through((s) => Stream.filterMap(s, (n) => Result.succeed(n + 1)))))
await measureAsync(
  "+ Stream.filterMapEffect (Effect.succeed per element, as subscribe)",
  N,
  run(through((s) => Stream.filterMapEffect(s, (n) => Effect.succeed(Result.succeed(n + 1)))))
)
await measureAsync(
  "+ Stream.mapEffect (Effect.succeed per element)",
  N,
  run(through((s) => Stream.mapEffect(s, (n) => Effect.succeed(n + 1))))
)

// Offering one at a time while the reader is waiting: each offer wakes the reader (the live case).
const live = (pipe: (s: Stream.Stream<number>) => Stream.Stream<number>) =>
  Effect.gen(function*() {
    const q = yield* Queue.sliding<number, Cause.Done>(2 * N)
    const fiber = yield* Effect.forkChild(Stream.runDrain(Stream.take(pipe(Stream.fromQueue(q)), N)))
    yield* Effect.yieldNow
    yield* Effect.promise(() =>
      new Promise<void>((resolve) => {
        let i = 0
        const tick = () => {
          // 100 arrive per socket read, as nats.js delivers a read's messages in one go.
          for (let k = 0; k < 100 && i < N; k++) Queue.offerUnsafe(q, i++)
          if (i < N) setImmediate(tick)
          else resolve()
        }
        tick()
      })
    )
    return yield* fiberJoin(fiber)
  })
console.log("-- the same, 100 offered per macrotask (as socket reads deliver them)")
await measureAsync("Stream.fromQueue only", N, run(live((s) => s)))
await measureAsync("+ Stream.filterMapEffect (as subscribe)", N, run(live((s) => Stream.filterMapEffect(s, (n) => Effect.succeed(Result.succeed(n + 1))))))
await measureAsync("+ Stream.filterMap (pure)", N, run(live((s) => Stream.filterMap(s, (n) => Result.succeed(n + 1)))))
if (sink < 0) console.log(sink)
