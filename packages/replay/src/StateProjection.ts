/**
 * State projections: a value folded over a stream's messages.
 *
 * ```ts
 * const Totals = StateProjection.make({
 *   name: "order-totals",
 *   state: Schema.Struct({ orders: Schema.Number, cents: Schema.Number }),
 *   initial: { orders: 0, cents: 0 },
 *   filter: "orders.placed",
 *   evolve: (state, message) => ({ orders: state.orders + 1, cents: state.cents + centsOf(message) })
 * })
 * const { state, sequence } = yield* StateProjection.replay(Totals, "ORDERS")
 * ```
 *
 * `replay` folds a bounded replay (`Replay.bySequence`): its end is the
 * stream's last sequence when it starts, and `sequence` is the last sequence
 * the state covers (every sequence up to it was considered, whether or not
 * the filter kept it). A range that starts in the part of the stream that is
 * no longer kept fails with `CheckpointPurged` (nothing is folded): a state
 * folded without those messages would be wrong without saying so. Holes
 * between kept messages (messages deleted one by one, or replaced under a
 * per-subject limit) are not an error: a full replay skips them too.
 *
 * The state is stored by snapshots as JSON through
 * `Schema.toCodecJson(state)`; `Snapshot` saves and restores it.
 *
 * @since 0.1.0
 */
import type { TransportError } from "@herald/transport"
import { EventLog } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Replay from "./Replay.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * A projection whose result is one value.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateProjection<S, E = never, R = never> {
  /** The projection's name: the key of its snapshots. */
  readonly name: string
  /** The state's Schema (stored as JSON through `Schema.toCodecJson`). */
  readonly state: Schema.Codec<S, any>
  /** The state before the first message. */
  readonly initial: S
  /** The next state after one message. */
  readonly evolve: (state: S, message: EventLog.StoredMessage) => S | Effect.Effect<S, E, R>
  /** Only messages whose subject matches this pattern are folded. */
  readonly filter: string | undefined
  /** The state as JSON, or why it cannot be. */
  readonly encodeState: (state: S) => Result.Result<unknown, string>
  /** A JSON value as the state, or why it is not one. */
  readonly decodeState: (json: unknown) => Result.Result<S, string>
  /** Why the definition cannot work (empty when it can). */
  readonly problems: ReadonlyArray<string>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions<S, E, R> {
  /** 1 to 128 letters, digits or `_ - . :`. */
  readonly name: string
  readonly state: Schema.Codec<S, any>
  readonly initial: NoInfer<S>
  readonly evolve: (state: S, message: EventLog.StoredMessage) => S | Effect.Effect<S, E, R>
  readonly filter?: string | undefined
}

/**
 * What a fold answers: the state and the last sequence it covers (0 for
 * the initial state of a stream never written).
 *
 * @since 0.1.0
 * @category models
 */
export interface Folded<S> {
  readonly state: S
  readonly sequence: number
}

const projectionName = /^[A-Za-z0-9_\-.:]{1,128}$/

/**
 * Defines a state projection. Throws nothing: a definition that cannot
 * work (a bad name) is refused with `InvalidConfig` by every operation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, E = never, R = never>(options: MakeOptions<S, E, R>): StateProjection<S, E, R> => {
  const json = Schema.toCodecJson(options.state as unknown as Schema.Top) as unknown as Schema.Codec<S, unknown>
  const encode = Schema.encodeUnknownResult(json as any) as (u: unknown) => Result.Result<unknown, Schema.SchemaError>
  const decode = Schema.decodeUnknownResult(json as any) as (u: unknown) => Result.Result<S, Schema.SchemaError>
  const problems: Array<string> = []
  if (typeof options.name !== "string" || !projectionName.test(options.name)) {
    problems.push(`a projection's name must be 1 to 128 letters, digits or "_-.:", got ${JSON.stringify(options.name)}`)
  }
  if (typeof options.evolve !== "function") problems.push("evolve must be a function")
  if (options.filter !== undefined && (typeof options.filter !== "string" || options.filter.length === 0)) {
    problems.push(`filter must be a non-empty subject pattern, got ${JSON.stringify(options.filter)}`)
  }
  return {
    name: options.name,
    state: options.state,
    initial: options.initial,
    evolve: options.evolve,
    filter: options.filter,
    encodeState: (state) => Result.mapError(encode(state), (e) => e.message),
    decodeState: (u) => Result.mapError(decode(u), (e) => e.message),
    problems
  }
}

/**
 * Checks a definition; every operation calls it first.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <S, E, R>(projection: StateProjection<S, E, R>): Result.Result<void, ReplayError.ReplayError> =>
  projection.problems.length === 0
    ? Result.succeed(undefined)
    : Result.fail(ReplayError.invalid(`projection ${String(projection.name)}: ${projection.problems.join("; ")}`))

/**
 * Folds a replay's messages into a state, starting from `state`.
 *
 * @since 0.1.0
 * @category folding
 */
export const fold = <S, E, R, E2, R2>(
  projection: StateProjection<S, E, R>,
  state: S,
  messages: Stream.Stream<EventLog.StoredMessage, E2, R2>
): Effect.Effect<S, E | E2, R | R2> =>
  Stream.runFoldEffect(messages, () => state, (s, message) => {
    const next = projection.evolve(s, message)
    return Effect.isEffect(next) ? next : Effect.succeed(next)
  })

/**
 * The stream's first kept sequence (its last sequence + 1 when it keeps none).
 *
 * @since 0.1.0
 * @category utils
 */
export const firstKept = (info: EventLog.StreamInfo): number =>
  info.messages === 0 ? info.lastSequence + 1 : info.firstSequence

/**
 * A `CheckpointPurged`: the messages after `checkpoint` are no longer kept.
 *
 * @since 0.1.0
 * @category errors
 */
export const purgedError = (
  projection: string,
  stream: string,
  checkpoint: number,
  firstSequence: number
): ReplayError.ReplayError =>
  ReplayError.make(new ReplayError.CheckpointPurged({ projection, stream, checkpoint, firstSequence }))

/**
 * Folds `state` forward over the sequences after `after` up to `to`
 * (default: the last sequence when the replay starts): a fold continued
 * from a state kept elsewhere. Fails with `CheckpointPurged` (nothing
 * folded) when the stream no longer keeps `after + 1`.
 *
 * @since 0.1.0
 * @category folding
 */
export const foldFrom = <S, E, R>(
  projection: StateProjection<S, E, R>,
  stream: string,
  state: S,
  after: number,
  to?: number | undefined
): Effect.Effect<Folded<S>, ReplayError.ReplayError | TransportError.TransportError | E, EventLog.EventLog | R> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(validate(projection))
    if (!(Number.isSafeInteger(after) && after >= 0)) {
      return yield* Effect.fail(ReplayError.invalid(`after must be a non-negative integer sequence, got ${String(after)}`))
    }
    const replay = yield* Replay.bySequence(stream, { from: after + 1, to, filter: projection.filter })
    if (replay.purged.length > 0) {
      const info = yield* EventLog.EventLog.use((log) => log.info(stream))
      return yield* Effect.fail(purgedError(projection.name, stream, after, firstKept(info)))
    }
    const folded = yield* fold(projection, state, replay.messages)
    return { state: folded, sequence: replay.to }
  })

/**
 * Folds a bounded replay of `from` (default 1) to `to` (default: the last
 * sequence when the replay starts) into a state, from `initial`. Answers
 * the state and the last sequence it covers. A range that starts where the
 * stream no longer keeps messages fails with `CheckpointPurged` (checkpoint
 * `from - 1`), nothing folded.
 *
 * @since 0.1.0
 * @category folding
 */
export const replay = <S, E, R>(
  projection: StateProjection<S, E, R>,
  stream: string,
  options?: { readonly from?: number | undefined; readonly to?: number | undefined }
): Effect.Effect<Folded<S>, ReplayError.ReplayError | TransportError.TransportError | E, EventLog.EventLog | R> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(validate(projection))
    const from = options?.from ?? 1
    if (!(Number.isSafeInteger(from) && from >= 1)) {
      return yield* Effect.fail(ReplayError.invalid(`from must be a positive integer sequence, got ${String(from)}`))
    }
    return yield* foldFrom(projection, stream, projection.initial, from - 1, options?.to)
  })
