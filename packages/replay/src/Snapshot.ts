/**
 * Snapshots of state projections: the state saved with the last sequence it
 * covers, and restored by loading it and folding the messages after it, up
 * to the stream's head, as one operation.
 *
 * ```ts
 * // every night
 * yield* Snapshot.take(Totals, "ORDERS")
 * // at start
 * const { state, sequence } = yield* Snapshot.restore(Totals, "ORDERS")
 * ```
 *
 * Stores (`SnapshotStore`): `SnapshotSql` (PostgreSQL and SQLite),
 * `SnapshotMemory`, and `SnapshotKv` (NATS KV, from `@herald/replay/kv`).
 * A store keeps a projection's snapshots by sequence (saving a sequence
 * again replaces it); the latest is the one of the highest sequence. The
 * state is stored as JSON, encoded by the projection's Schema
 * (`Schema.toCodecJson`); a stored state that does not decode is a
 * `CorruptState`.
 *
 * `restore` checks the snapshot against the stream before it folds anything:
 *
 * | the stream | answer |
 * |---|---|
 * | its last sequence is below the snapshot's (recreated, or another stream) | `CheckpointBeyondEnd` |
 * | it no longer keeps the message right after the snapshot (purged by limits or `purge`) | `CheckpointPurged` |
 * | no snapshot, and it no longer keeps sequence 1 | `CheckpointPurged` with checkpoint 0 |
 *
 * A snapshot made of another stream than the one asked for is an
 * `InvalidConfig`. Rather than any of these errors, a state silently
 * missing messages would be wrong without anyone knowing.
 *
 * @since 0.1.0
 */
import type { TransportError } from "@herald/transport"
import { EventLog } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as ReplayError from "./ReplayError.ts"
import * as StateProjection from "./StateProjection.ts"

/**
 * What a store keeps of one snapshot, besides the projection's name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** The stream the state was folded from. */
  readonly stream: string
  /** The last sequence the state covers (0: none). */
  readonly sequence: number
  /** The state, encoded as JSON by the projection's Schema. */
  readonly state: unknown
  /** When it was taken, Unix epoch milliseconds. */
  readonly at: number
}

/**
 * A stored snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stored extends Entry {
  /** The projection's name. */
  readonly name: string
}

/**
 * A store of snapshots. Every store follows the same rules: a snapshot is
 * identified by (name, sequence), and saving one again replaces it; `latest`
 * and `list` order by sequence, highest first; `save` refuses an entry that
 * is not one (an empty name or stream, a sequence that is not a
 * non-negative integer, a state that is not JSON) with `InvalidConfig`; a
 * stored snapshot that does not parse is a `CorruptState`.
 *
 * @since 0.1.0
 * @category services
 */
export class SnapshotStore extends Context.Service<SnapshotStore, {
  /** `"sql:pg"`, `"sql:sqlite"`, `"memory"` or `"kv"`. */
  readonly kind: string
  /** Saves a snapshot (replacing the one of the same name and sequence). */
  readonly save: (name: string, entry: Entry) => Effect.Effect<void, ReplayError.ReplayError>
  /** The snapshot of the highest sequence. */
  readonly latest: (name: string) => Effect.Effect<Option.Option<Stored>, ReplayError.ReplayError>
  /** Every snapshot of a projection, highest sequence first. */
  readonly list: (name: string) => Effect.Effect<ReadonlyArray<Stored>, ReplayError.ReplayError>
  /** Deletes all but the `keep` snapshots of the highest sequences; answers how many it deleted. */
  readonly prune: (name: string, keep: number) => Effect.Effect<number, ReplayError.ReplayError>
  /** Deletes one snapshot; answers whether it was there. */
  readonly remove: (name: string, sequence: number) => Effect.Effect<boolean, ReplayError.ReplayError>
}>()("@herald/replay/SnapshotStore") {}

const nonEmpty = (u: unknown): u is string => typeof u === "string" && u.length > 0

/**
 * Checks a snapshot before a store saves it and answers its state as JSON
 * text; every store calls it.
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (name: string, entry: Entry): Result.Result<string, ReplayError.ReplayError> => {
  if (!nonEmpty(name)) return Result.fail(ReplayError.invalid(`snapshot: name must be a non-empty string`))
  if (!nonEmpty(entry.stream)) {
    return Result.fail(ReplayError.invalid(`snapshot of ${name}: stream must be a non-empty string`))
  }
  if (!(Number.isSafeInteger(entry.sequence) && entry.sequence >= 0)) {
    return Result.fail(
      ReplayError.invalid(`snapshot of ${name}: sequence must be a non-negative integer, got ${String(entry.sequence)}`)
    )
  }
  if (!Number.isSafeInteger(entry.at)) {
    return Result.fail(ReplayError.invalid(`snapshot of ${name}: at must be an integer time, got ${String(entry.at)}`))
  }
  let text: string | undefined
  try {
    text = JSON.stringify(entry.state)
  } catch {
    text = undefined
  }
  return typeof text === "string"
    ? Result.succeed(text)
    : Result.fail(ReplayError.invalid(`snapshot of ${name}: the state is not a JSON value`))
}

/**
 * Checks a non-negative integer: a sequence given to `remove` or `take`, a
 * `keep` given to `prune`.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkCount = (what: string, n: number): Result.Result<number, ReplayError.ReplayError> =>
  Number.isSafeInteger(n) && n >= 0
    ? Result.succeed(n)
    : Result.fail(ReplayError.invalid(`${what} must be a non-negative integer, got ${String(n)}`))

/**
 * A `CorruptState` of a projection.
 *
 * @since 0.1.0
 * @category errors
 */
export const corrupt = (projection: string, detail: string, cause?: unknown): ReplayError.ReplayError =>
  ReplayError.make(
    new ReplayError.CorruptState({ projection, detail, ...(cause === undefined ? {} : { cause }) })
  )

/**
 * A snapshot taken: the state and the last sequence it covers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Taken<S> {
  readonly name: string
  readonly stream: string
  readonly sequence: number
  readonly state: S
  readonly at: number
}

/**
 * What `restore` answers: the state up to the head, the last sequence it
 * covers, and the snapshot it started from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Restored<S> extends StateProjection.Folded<S> {
  /** The sequence of the snapshot loaded (`undefined`: none, folded from the start). */
  readonly snapshot: number | undefined
}

/** The stored snapshot as a state, or `CorruptState`. */
const decodeStored = <S, E, R>(
  projection: StateProjection.StateProjection<S, E, R>,
  stored: Stored
): Effect.Effect<S, ReplayError.ReplayError> =>
  Result.match(projection.decodeState(stored.state), {
    onFailure: (detail) =>
      Effect.fail(corrupt(projection.name, `snapshot at sequence ${stored.sequence} of ${stored.stream}: ${detail}`)),
    onSuccess: Effect.succeed
  })

const otherStream = (name: string, stored: Stored, stream: string) =>
  ReplayError.invalid(
    `projection ${name}: the latest snapshot (sequence ${stored.sequence}) is of stream ${stored.stream}, not ${stream}`
  )

const beyondEnd = (projection: string, stream: string, checkpoint: number, lastSequence: number) =>
  ReplayError.make(new ReplayError.CheckpointBeyondEnd({ projection, stream, checkpoint, lastSequence }))

/**
 * Folds the projection up to the stream's head (or up to `at`) and saves the
 * state with the last sequence it covers. It starts from the stored snapshot
 * of the highest sequence not past `at` (so a snapshot can be taken after
 * the stream's prefix is purged), or from the start when there is none or
 * with `rebuild: true` (after `evolve` changed, say). Unless it rebuilds,
 * a stored snapshot past the stream's last sequence fails it with
 * `CheckpointBeyondEnd`, as it fails `restore` (a rebuild saves its
 * snapshot, and `restore` still loads the highest one: `remove` those past
 * the end). `at` past the stream's last sequence is an `InvalidConfig`; a
 * state that its Schema cannot encode is an `InvalidConfig`, and nothing is
 * saved.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const take = <S, E, R>(
  projection: StateProjection.StateProjection<S, E, R>,
  stream: string,
  options?: { readonly at?: number | undefined; readonly rebuild?: boolean | undefined }
): Effect.Effect<
  Taken<S>,
  ReplayError.ReplayError | TransportError.TransportError | E,
  EventLog.EventLog | SnapshotStore | R
> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(StateProjection.validate(projection))
    const at = options?.at
    if (at !== undefined) yield* Effect.fromResult(checkCount("at", at))
    const store = yield* SnapshotStore
    const info = yield* EventLog.EventLog.use((log) => log.info(stream))
    if (at !== undefined && at > info.lastSequence) {
      return yield* Effect.fail(
        ReplayError.invalid(`at ${at} is beyond the last sequence of ${stream} (${info.lastSequence})`)
      )
    }
    const target = at ?? info.lastSequence
    let state = projection.initial
    let after = 0
    if (options?.rebuild !== true) {
      const stored = yield* store.list(projection.name)
      const highest = stored[0]
      if (highest !== undefined && highest.stream === stream && highest.sequence > info.lastSequence) {
        return yield* Effect.fail(beyondEnd(projection.name, stream, highest.sequence, info.lastSequence))
      }
      const base = stored.find((s) => s.sequence <= target)
      if (base !== undefined) {
        if (base.stream !== stream) return yield* Effect.fail(otherStream(projection.name, base, stream))
        state = yield* decodeStored(projection, base)
        after = base.sequence
      }
    }
    const folded = yield* StateProjection.foldFrom(projection, stream, state, after, target)
    const json = projection.encodeState(folded.state)
    if (Result.isFailure(json)) {
      return yield* Effect.fail(
        ReplayError.invalid(`projection ${projection.name}: the state does not encode: ${json.failure}`)
      )
    }
    const now = yield* Clock.currentTimeMillis
    yield* store.save(projection.name, { stream, sequence: folded.sequence, state: json.success, at: now })
    return { name: projection.name, stream, sequence: folded.sequence, state: folded.state, at: now }
  })

/**
 * Loads the latest snapshot and folds the messages after it up to the
 * stream's head (its last sequence when `restore` reads the stream's state;
 * it never waits for more), as one operation. The snapshot is checked first,
 * and nothing is folded when it does not fit: a state that does not decode
 * is a `CorruptState`; a snapshot past the stream's last sequence a
 * `CheckpointBeyondEnd`; a snapshot whose next messages the stream no
 * longer keeps a `CheckpointPurged`. With no snapshot, it folds from the
 * start, and a stream that no longer keeps sequence 1 is a
 * `CheckpointPurged` with checkpoint 0.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const restore = <S, E, R>(
  projection: StateProjection.StateProjection<S, E, R>,
  stream: string
): Effect.Effect<
  Restored<S>,
  ReplayError.ReplayError | TransportError.TransportError | E,
  EventLog.EventLog | SnapshotStore | R
> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(StateProjection.validate(projection))
    const store = yield* SnapshotStore
    const latest = yield* store.latest(projection.name)
    if (Option.isNone(latest)) {
      const folded = yield* StateProjection.foldFrom(projection, stream, projection.initial, 0, undefined)
      return { ...folded, snapshot: undefined }
    }
    const stored = latest.value
    if (stored.stream !== stream) return yield* Effect.fail(otherStream(projection.name, stored, stream))
    const state = yield* decodeStored(projection, stored)
    const info = yield* EventLog.EventLog.use((log) => log.info(stream))
    if (stored.sequence > info.lastSequence) {
      return yield* Effect.fail(beyondEnd(projection.name, stream, stored.sequence, info.lastSequence))
    }
    const first = StateProjection.firstKept(info)
    if (stored.sequence < info.lastSequence && stored.sequence + 1 < first) {
      return yield* Effect.fail(StateProjection.purgedError(projection.name, stream, stored.sequence, first))
    }
    const folded = yield* StateProjection.foldFrom(projection, stream, state, stored.sequence, info.lastSequence)
    return { ...folded, snapshot: stored.sequence }
  })
