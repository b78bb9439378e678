/**
 * An in-process wake-up signal: `fire` reaches every subscriber of `stream`,
 * coalesced (a subscriber holds at most one pending signal).
 *
 * @since 0.1.0
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"

export interface Signal {
  readonly fire: () => void
  readonly stream: Stream.Stream<void>
}

export const make = (): Signal => {
  const listeners = new Set<() => void>()
  return {
    fire: () => {
      for (const listener of listeners) listener()
    },
    stream: Stream.callback<void>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const listener = () => {
            Queue.offerUnsafe(queue, undefined)
          }
          listeners.add(listener)
          return listener
        }),
        (listener) => Effect.sync(() => listeners.delete(listener))
      ), { bufferSize: 1, strategy: "sliding" })
  }
}
