/**
 * An in-memory `SnapshotStore`, for tests and single-process applications
 * whose snapshots need not survive the process. States are kept as JSON
 * text, as the other stores keep them, so a restored state never shares
 * objects with the one saved.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as ReplayError from "./ReplayError.ts"
import * as Snapshot from "./Snapshot.ts"

interface Kept {
  readonly stream: string
  readonly sequence: number
  readonly state: string
  readonly at: number
}

/**
 * Builds an empty memory store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Snapshot.SnapshotStore["Service"]> = Effect.sync(() => {
  const byName = new Map<string, Map<number, Kept>>()

  const sorted = (name: string): Array<Kept> =>
    [...(byName.get(name)?.values() ?? [])].sort((a, b) => b.sequence - a.sequence)

  const toStored = (name: string, kept: Kept): Effect.Effect<Snapshot.Stored, ReplayError.ReplayError> => {
    try {
      return Effect.succeed({ name, stream: kept.stream, sequence: kept.sequence, state: JSON.parse(kept.state), at: kept.at })
    } catch (cause) {
      return Effect.fail(Snapshot.corrupt(name, `snapshot at sequence ${kept.sequence}: the stored JSON does not parse`, cause))
    }
  }

  const save = (name: string, entry: Snapshot.Entry) =>
    Effect.suspend(() => {
      const text = Snapshot.check(name, entry)
      if (Result.isFailure(text)) return Effect.fail(text.failure)
      const kept = byName.get(name) ?? new Map<number, Kept>()
      kept.set(entry.sequence, { stream: entry.stream, sequence: entry.sequence, state: text.success, at: entry.at })
      byName.set(name, kept)
      return Effect.void
    })

  const latest = (name: string) =>
    Effect.suspend(() => {
      const first = sorted(name)[0]
      return first === undefined
        ? Effect.succeed(Option.none<Snapshot.Stored>())
        : Effect.map(toStored(name, first), Option.some)
    })

  const list = (name: string) => Effect.suspend(() => Effect.forEach(sorted(name), (kept) => toStored(name, kept)))

  const prune = (name: string, keep: number) =>
    Effect.suspend(() => {
      const checked = Snapshot.checkCount("keep", keep)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      const kept = byName.get(name)
      let n = 0
      for (const old of sorted(name).slice(keep)) {
        kept!.delete(old.sequence)
        n++
      }
      return Effect.succeed(n)
    })

  const remove = (name: string, sequence: number) =>
    Effect.suspend(() => {
      const checked = Snapshot.checkCount("sequence", sequence)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      return Effect.succeed(byName.get(name)?.delete(sequence) ?? false)
    })

  return Snapshot.SnapshotStore.of({ kind: "memory", save, latest, list, prune, remove })
})

/**
 * The memory store as a layer (a new, empty store each time it is built).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Snapshot.SnapshotStore> = Layer.effect(Snapshot.SnapshotStore, make)
