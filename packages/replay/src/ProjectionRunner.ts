/**
 * Runs projections: from the checkpoint to the head of the stream in
 * bounded batches, then following it live; rebuilds them from the start.
 *
 * ```ts
 * const handle = yield* ProjectionRunner.run(orderTotals, { stream: "ORDERS", batchSize: 500 })
 * // later: yield* handle.stats
 * ```
 *
 * Before it applies anything, `run` checks the stored checkpoint against the
 * stream (`EventLog.info`), and it checks it again before every batch:
 *
 * - a checkpoint past the stream's last sequence (the stream was recreated,
 *   or the checkpoint belongs to another stream) fails with
 *   `CheckpointBeyondEnd`;
 * - a checkpoint whose next sequence the stream no longer holds (purged by
 *   its limits or by a purge) fails with `CheckpointPurged`. A projection at
 *   0 (new, or being rebuilt) on a stream whose start is purged fails too,
 *   unless `startAtFirstKept: true` says that starting at the first kept
 *   message is what is wanted.
 *
 * Nothing is skipped silently; the remedy is a rebuild, or an explicit
 * checkpoint. Holes inside the stream (messages deleted one by one, or
 * replaced under a per-subject limit) are not errors: the checkpoint moves
 * past them, as it moves past the messages the projection's `filter`
 * leaves out.
 *
 * Each batch reads at most `batchSize` sequences and commits through the
 * `CheckpointStore`: on SQL, the batch's handler calls and the checkpoint
 * are one transaction, so a runner killed in the middle of a batch leaves
 * neither, and the next run applies that batch again from the checkpoint;
 * every message is applied exactly once. Once at the head, the runner reads
 * the stream's state every `pollInterval` (on `Clock`) and applies what was
 * appended.
 *
 * `rebuild` resets the projection (its `reset` hook) and moves its
 * checkpoint to 0 with the `rebuilding` flag, in one transaction, then runs
 * like `run`: a rebuild killed halfway resumes from its checkpoint at the
 * next `run` (or `rebuild` starts over), and the flag clears when it reaches
 * the head.
 *
 * @since 0.1.0
 */
import { EventLog, type TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Checkpoint from "./Checkpoint.ts"
import type * as Projection from "./Projection.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * Options of `run`, `rebuild` and `catchUp`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The stream the projection reads. */
  readonly stream: string
  /** Sequences read per batch, and on SQL per transaction (default 100). */
  readonly batchSize?: number | undefined
  /** How often a runner at the head reads the stream's state again (default 1 second). */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * A projection at 0 (new, or being rebuilt) on a stream whose first
   * messages are purged starts at the first kept message instead of failing
   * with `CheckpointPurged` (default `false`).
   */
  readonly startAtFirstKept?: boolean | undefined
}

/**
 * What a runner has done, and where it is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly projection: string
  readonly stream: string
  /** The checkpoint: the last sequence passed. */
  readonly position: number
  /** Messages applied (committed) by this runner. */
  readonly applied: number
  /** Batches committed by this runner. */
  readonly batches: number
  /** At the stream's last sequence as read at the last check. */
  readonly caughtUp: boolean
  readonly rebuilding: boolean
}

/**
 * A running projection, owned by the scope it was started in.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle<E> {
  readonly stats: Effect.Effect<Stats>
  /** The current stats, then each change. */
  readonly changes: Stream.Stream<Stats>
  /**
   * Fails when the runner stops on an error (a handler's failure, a store
   * failure, a checkpoint purged while it lagged); never succeeds while it
   * runs.
   */
  readonly await: Effect.Effect<never, E | ReplayError.ReplayError | TransportError.TransportError>
}

/**
 * A projection's checkpoint beside its stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly projection: string
  readonly stream: string
  /** Whether a checkpoint is stored. */
  readonly stored: boolean
  readonly position: number
  readonly lastSequence: number
  /** `lastSequence - position` (negative when the checkpoint is beyond the end). */
  readonly lag: number
  readonly rebuilding: boolean
  /** When the checkpoint last moved (`undefined` when none is stored). */
  readonly updatedAt: number | undefined
}

interface Config {
  readonly stream: string
  readonly batchSize: number
  readonly pollInterval: Duration.Duration
  readonly startAtFirstKept: boolean
}

const configOf = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options
): Effect.Effect<Config, ReplayError.ReplayError> =>
  Effect.suspend(() => {
    const problems = [...projection.problems]
    if (typeof options?.stream !== "string" || options.stream.length === 0) {
      problems.push(`stream must be a stream name, got ${JSON.stringify(options?.stream)}`)
    }
    const batchSize = options?.batchSize ?? 100
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      problems.push(`batchSize must be a positive integer, got ${String(options?.batchSize)}`)
    }
    const poll = Duration.fromInput(options?.pollInterval ?? Duration.seconds(1))
    if (Option.isNone(poll) || !Duration.isFinite(poll.value) || Duration.toMillis(poll.value) <= 0) {
      problems.push(`pollInterval must be a positive finite duration, got ${String(options?.pollInterval)}`)
    }
    if (problems.length > 0) {
      return Effect.fail(ReplayError.invalid(`projection ${JSON.stringify(projection.name)}: ${problems.join("; ")}`))
    }
    return Effect.succeed({
      stream: options.stream,
      batchSize,
      pollInterval: Option.getOrThrow(poll),
      startAtFirstKept: options.startAtFirstKept === true
    })
  })

/** The first sequence the stream holds (`lastSequence + 1` when it holds none). */
const firstKept = (info: EventLog.StreamInfo): number => info.messages === 0 ? info.lastSequence + 1 : info.firstSequence

/** The next sequence to read after `position`, or the error that forbids it. */
const nextOf = (
  name: string,
  config: Config,
  position: number,
  info: EventLog.StreamInfo
): Effect.Effect<number, ReplayError.ReplayError> => {
  if (position > info.lastSequence) {
    return Effect.fail(
      ReplayError.make(
        new ReplayError.CheckpointBeyondEnd({
          projection: name,
          stream: config.stream,
          checkpoint: position,
          lastSequence: info.lastSequence
        })
      )
    )
  }
  const first = firstKept(info)
  if (position + 1 >= first) return Effect.succeed(position + 1)
  if (position === 0 && config.startAtFirstKept) return Effect.succeed(first)
  return Effect.fail(
    ReplayError.make(
      new ReplayError.CheckpointPurged({ projection: name, stream: config.stream, checkpoint: position, firstSequence: first })
    )
  )
}

/** The stored checkpoint, refused when it belongs to another stream. */
const storedOf = (
  store: Checkpoint.CheckpointStore["Service"],
  name: string,
  stream: string
): Effect.Effect<Option.Option<Checkpoint.Checkpoint>, ReplayError.ReplayError> =>
  Effect.flatMap(store.get(name), (found) =>
    Option.isSome(found) && found.value.stream !== stream
      ? Effect.fail(
        ReplayError.invalid(
          `projection ${JSON.stringify(name)}: its checkpoint is on stream ${found.value.stream}, not ${stream}; remove it or rebuild the projection on ${found.value.stream}`
        )
      )
      : Effect.succeed(found))

interface Engine<E, R> {
  readonly ref: SubscriptionRef.SubscriptionRef<Stats>
  /** One check and at most one batch: `true` when it is at the head. */
  readonly step: Effect.Effect<boolean, E | ReplayError.ReplayError | TransportError.TransportError, R>
  readonly pollInterval: Duration.Duration
}

/**
 * Checks the checkpoint against the stream and builds the loop's step;
 * fails before anything is applied when the checkpoint is outside the
 * stream.
 */
const prepare = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options,
  rebuild: boolean
): Effect.Effect<
  Engine<E, R>,
  E | ReplayError.ReplayError | TransportError.TransportError,
  R | EventLog.EventLog | Checkpoint.CheckpointStore
> =>
  Effect.gen(function*() {
    const config = yield* configOf(projection, options)
    const store = yield* Checkpoint.CheckpointStore
    const log = yield* EventLog.EventLog
    const name = projection.name
    const stream = config.stream
    const stored = yield* storedOf(store, name, stream)
    let position = Option.match(stored, { onNone: () => 0, onSome: (c) => c.position })
    let rebuilding = Option.match(stored, { onNone: () => false, onSome: (c) => c.rebuilding })
    const info = yield* log.info(stream)
    if (rebuild) {
      // checked before the reset: a rebuild that cannot start from the beginning changes nothing
      yield* nextOf(name, config, 0, info)
      yield* store.commit({ projection: name, stream, from: position, to: 0, rebuilding: true }, projection.reset)
      position = 0
      rebuilding = true
    } else {
      yield* nextOf(name, config, position, info)
    }
    const ref = yield* SubscriptionRef.make<Stats>({
      projection: name,
      stream,
      position,
      applied: 0,
      batches: 0,
      caughtUp: false,
      rebuilding
    })
    const update = (f: (s: Stats) => Stats) => SubscriptionRef.update(ref, f)

    const commit = (messages: ReadonlyArray<EventLog.StoredMessage>, to: number, last: number) =>
      Effect.suspend(() => {
        const stillRebuilding = rebuilding && to < last
        return Effect.andThen(
          store.commit(
            { projection: name, stream, from: position, to, rebuilding: stillRebuilding },
            Effect.forEach(messages, projection.handle, { discard: true })
          ),
          Effect.suspend(() => {
            position = to
            rebuilding = stillRebuilding
            return update((s) => ({ ...s, position, rebuilding, applied: s.applied + messages.length }))
          })
        )
      })

    const step = Effect.gen(function*() {
      const info = yield* log.info(stream)
      const next = yield* nextOf(name, config, position, info)
      const last = info.lastSequence
      if (next > last) {
        // at the head; a rebuild of an empty remainder ends here
        if (rebuilding || position !== last) yield* commit([], last, last)
        yield* update((s) => ({ ...s, caughtUp: true }))
        return true
      }
      const end = Math.min(next + config.batchSize - 1, last)
      const messages = Array.from(
        yield* Stream.runCollect(
          log.read(stream, { from: { sequence: next }, to: { sequence: end }, filter: projection.filter })
        )
      )
      if (messages.length === 0 || messages[0]!.sequence !== next) {
        // a hole, a filter, or a purge between the check and the read: only a purge is an error
        yield* nextOf(name, config, next - 1, yield* log.info(stream))
      }
      if (store.guarantee === "atomic" || messages.length === 0) {
        yield* commit(messages, end, last)
      } else {
        for (let i = 0; i < messages.length; i++) {
          yield* commit([messages[i]!], i === messages.length - 1 ? end : messages[i]!.sequence, last)
        }
      }
      yield* update((s) => ({ ...s, batches: s.batches + 1, caughtUp: end === last }))
      return false
    })
    return { ref, step, pollInterval: config.pollInterval }
  })

const start = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options,
  rebuild: boolean
): Effect.Effect<
  Handle<E>,
  E | ReplayError.ReplayError | TransportError.TransportError,
  R | EventLog.EventLog | Checkpoint.CheckpointStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const engine = yield* prepare(projection, options, rebuild)
    const loop = Effect.forever(
      Effect.flatMap(engine.step, (atHead) => atHead ? Effect.sleep(engine.pollInterval) : Effect.void)
    ).pipe(
      // a closed scope is a normal stop; anything else is logged
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(`projection ${projection.name} stopped`, cause)
      ),
      Effect.annotateLogs({ projection: projection.name, stream: options.stream })
    )
    const fiber = yield* Effect.forkScoped(loop)
    return {
      stats: SubscriptionRef.get(engine.ref),
      changes: SubscriptionRef.changes(engine.ref),
      await: Fiber.join(fiber)
    }
  })

/**
 * Starts a projection in the scope: checks its checkpoint (failing with
 * `CheckpointBeyondEnd` or `CheckpointPurged` before anything is applied),
 * catches up from it to the head in batches, then follows the stream live.
 * Closing the scope stops it; a batch in flight is rolled back (SQL) and
 * applied again by the next run.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options
): Effect.Effect<
  Handle<E>,
  E | ReplayError.ReplayError | TransportError.TransportError,
  R | EventLog.EventLog | Checkpoint.CheckpointStore | Scope.Scope
> => start(projection, options, false)

/**
 * Rebuilds a projection: in one transaction its `reset` and its checkpoint
 * moved to 0 with the `rebuilding` flag, then it runs like `run` (catch up,
 * then live). Fails with `CheckpointPurged` before the reset when the
 * stream no longer holds its first messages (unless `startAtFirstKept`).
 * A rebuild interrupted halfway is resumed by the next `run` from its
 * checkpoint; the flag clears when it reaches the head.
 *
 * @since 0.1.0
 * @category running
 */
export const rebuild = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options
): Effect.Effect<
  Handle<E>,
  E | ReplayError.ReplayError | TransportError.TransportError,
  R | EventLog.EventLog | Checkpoint.CheckpointStore | Scope.Scope
> => start(projection, options, true)

/**
 * Applies a projection from its checkpoint to the stream's last sequence
 * (as read at each batch) and returns, without following the stream: for
 * scripts, jobs and tests.
 *
 * @since 0.1.0
 * @category running
 */
export const catchUp = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options
): Effect.Effect<
  Stats,
  E | ReplayError.ReplayError | TransportError.TransportError,
  R | EventLog.EventLog | Checkpoint.CheckpointStore
> =>
  Effect.gen(function*() {
    const engine = yield* prepare(projection, options, false)
    while (!(yield* engine.step)) {
      // one batch per step
    }
    return yield* SubscriptionRef.get(engine.ref)
  })

/**
 * Runs a projection for the lifetime of a layer (`run`); the layer fails to
 * build when the checkpoint is outside the stream. A runner that stops
 * later logs why.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  projection: Projection.Projection<E, R>,
  options: Options
): Layer.Layer<
  never,
  E | ReplayError.ReplayError | TransportError.TransportError,
  Exclude<R, Scope.Scope> | EventLog.EventLog | Checkpoint.CheckpointStore
> => Layer.effectDiscard(run(projection, options))

/**
 * A projection's checkpoint beside its stream's last sequence.
 *
 * @since 0.1.0
 * @category queries
 */
export const status = <E, R>(
  projection: Projection.Projection<E, R> | string,
  options: { readonly stream: string }
): Effect.Effect<
  Status,
  ReplayError.ReplayError | TransportError.TransportError,
  EventLog.EventLog | Checkpoint.CheckpointStore
> =>
  Effect.gen(function*() {
    const name = typeof projection === "string" ? projection : projection.name
    const store = yield* Checkpoint.CheckpointStore
    const log = yield* EventLog.EventLog
    const found = yield* storedOf(store, name, options.stream)
    const info = yield* log.info(options.stream)
    const position = Option.match(found, { onNone: () => 0, onSome: (c) => c.position })
    return {
      projection: name,
      stream: options.stream,
      stored: Option.isSome(found),
      position,
      lastSequence: info.lastSequence,
      lag: info.lastSequence - position,
      rebuilding: Option.match(found, { onNone: () => false, onSome: (c) => c.rebuilding }),
      updatedAt: Option.match(found, { onNone: () => undefined, onSome: (c) => c.updatedAt })
    }
  })
