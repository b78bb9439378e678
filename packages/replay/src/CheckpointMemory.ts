/**
 * The checkpoint store in memory, for tests and for projections whose state
 * lives in the same process (a map, a cache rebuilt at start).
 *
 * Its guarantee is `afterSuccess`: the checkpoint moves once the effect has
 * succeeded, in an uninterruptible step right after it, and the runner
 * commits after every message. A failure or an interruption while a handler
 * runs leaves the checkpoint before that message, so only a handler that
 * wrote part of its effect before it was stopped can see its message again.
 * Checkpoints and the projection's in-memory state are lost together when
 * the process stops.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Checkpoint from "./Checkpoint.ts"

/**
 * Builds an empty store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Checkpoint.CheckpointStore["Service"]> = Effect.sync(() => {
  const checkpoints = new Map<string, Checkpoint.Checkpoint>()

  const get = (projection: string) => Effect.sync(() => Option.fromUndefinedOr(checkpoints.get(projection)))

  const list = Effect.sync((): ReadonlyArray<Checkpoint.Checkpoint> =>
    [...checkpoints.values()].sort((a, b) => (a.projection < b.projection ? -1 : a.projection > b.projection ? 1 : 0))
  )

  const expected = (advance: Checkpoint.Advance) => {
    const found = checkpoints.get(advance.projection)
    return found === undefined
      ? advance.from === 0
      : found.stream === advance.stream && found.position === advance.from
  }

  const commit = <A, E, R>(advance: Checkpoint.Advance, effect: Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() =>
        expected(advance)
          ? Effect.flatMap(restore(effect), (a) =>
            // another commit may have moved it while the effect ran
            expected(advance)
              ? Effect.map(Clock.currentTimeMillis, (now) => {
                checkpoints.set(advance.projection, {
                  projection: advance.projection,
                  stream: advance.stream,
                  position: advance.to,
                  rebuilding: advance.rebuilding,
                  updatedAt: now
                })
                return a
              })
              : Effect.fail(Checkpoint.moved(advance, Option.fromUndefinedOr(checkpoints.get(advance.projection)))))
          : Effect.fail(Checkpoint.moved(advance, Option.fromUndefinedOr(checkpoints.get(advance.projection))))
      )
    )

  const remove = (projection: string) => Effect.sync(() => checkpoints.delete(projection))

  return Checkpoint.CheckpointStore.of({ kind: "memory", guarantee: "afterSuccess", get, list, commit, remove })
})

/**
 * The memory store as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Checkpoint.CheckpointStore> = Layer.effect(Checkpoint.CheckpointStore, make)
