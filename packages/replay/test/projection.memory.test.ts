/**
 * Projections on the in-memory transport with the in-memory checkpoint
 * store, under `TestClock`: the runner's polls are driven by
 * `TestClock.adjust`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fixtures, MemoryTransport } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { Checkpoint, CheckpointMemory, Projection, ProjectionRunner, ReplayError } from "../src/index.ts"
import { projectionSuite } from "./projectionSuite.ts"
import { memoryTarget } from "./targets.ts"

describe("Projections: memory transport, memory checkpoints", () => {
  projectionSuite({
    testClock: true,
    atomic: false,
    advance: (duration) => TestClock.adjust(duration),
    pollInterval: Duration.millis(100),
    target: () => memoryTarget(),
    test: (name, body) =>
      it.effect(name, () => Effect.scoped(body()).pipe(Effect.provide(Layer.merge(MemoryTransport.layer, CheckpointMemory.layer))))
  })
})

describe("ProjectionRunner on TestClock", () => {
  const setup = Effect.gen(function*() {
    yield* Topology.ensure({ streams: [{ name: "LIVE", subjects: ["live.>"] }] })
    const log = yield* EventLog.EventLog
    const append = (from: number, to: number) =>
      Effect.forEach(
        Array.from({ length: to - from + 1 }, (_, i) => from + i),
        (n) => log.append("live.x", Fixtures.envelope({ identity: n, payload: { n } })),
        { discard: true }
      )
    const seen: Array<number> = []
    const projection = Projection.make({
      name: "live",
      handle: (m) => Effect.sync(() => void seen.push(m.sequence))
    })
    return { append, seen, projection }
  })
  /** Lets the runner reach the head and start its sleep, without letting time pass. */
  const atHead = (handle: ProjectionRunner.Handle<unknown>) =>
    Effect.gen(function*() {
      for (let i = 0; i < 100 && !(yield* handle.stats).caughtUp; i++) yield* Effect.yieldNow
      assert.isTrue((yield* handle.stats).caughtUp, "caught up without time passing")
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
    })
  const provided = <A, E>(self: Effect.Effect<A, E, EventLog.EventLog | Topology.Topology | Checkpoint.CheckpointStore>) =>
    self.pipe(Effect.provide(Layer.merge(MemoryTransport.layer, CheckpointMemory.layer)))

  it.effect("at the head it polls every pollInterval on Clock, no sooner", () =>
    provided(Effect.scoped(Effect.gen(function*() {
      const t = yield* setup
      yield* t.append(1, 3)
      const handle = yield* ProjectionRunner.run(t.projection, { stream: "LIVE", pollInterval: "10 seconds" })
      yield* atHead(handle)
      assert.deepStrictEqual(t.seen, [1, 2, 3])
      yield* t.append(4, 5)
      yield* TestClock.adjust("9999 millis")
      assert.deepStrictEqual(t.seen, [1, 2, 3])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(t.seen, [1, 2, 3, 4, 5])
      const stats = yield* handle.stats
      assert.deepStrictEqual([stats.position, stats.applied, stats.batches, stats.caughtUp], [5, 5, 2, true])
    }))))

  it.effect("layer: runs for the layer's lifetime; fails to build on a checkpoint beyond the end", () =>
    provided(Effect.gen(function*() {
      const t = yield* setup
      yield* t.append(1, 4)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(ProjectionRunner.layer(t.projection, { stream: "LIVE", pollInterval: "1 second" }), scope)
      for (let i = 0; i < 100 && t.seen.length < 4; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(t.seen, [1, 2, 3, 4])
      yield* Scope.close(scope, Exit.void)
      yield* t.append(5, 5)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(t.seen, [1, 2, 3, 4])
      assert.strictEqual((yield* ProjectionRunner.status(t.projection, { stream: "LIVE" })).lag, 1)

      const store = yield* Checkpoint.CheckpointStore
      yield* store.commit({ projection: "ahead", stream: "LIVE", from: 0, to: 9, rebuilding: false }, Effect.void)
      const ahead = Projection.make({ name: "ahead", handle: t.projection.handle })
      const exit = yield* Effect.exit(
        Effect.scoped(Layer.build(ProjectionRunner.layer(ahead, { stream: "LIVE" })))
      )
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
      assert.isTrue(ReplayError.isReplayError(error))
      assert.strictEqual((error as ReplayError.ReplayError).reason._tag, "CheckpointBeyondEnd")
      assert.deepStrictEqual(t.seen, [1, 2, 3, 4])
    })))
})
