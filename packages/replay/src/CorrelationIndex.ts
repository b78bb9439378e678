/**
 * The correlation index: which messages of a stream belong to which flow,
 * so that `Replay.byCorrelation` finds one flow without reading the stream.
 * nats-server 2.9 cannot filter a stream by header; the index is built by a
 * durable consumer instead.
 *
 * ```ts
 * const index = yield* CorrelationIndex.run({ stream: "ORDERS", consumer: "orders-correlation", concurrency: 8 })
 * const flow = yield* Replay.byCorrelation(correlationId)
 * ```
 *
 * The store (`CorrelationIndex`, implemented by `CorrelationIndexSql` on
 * PostgreSQL and SQLite and by `CorrelationIndexMemory`) keeps one `Entry`
 * per stored message, keyed by `(stream, sequence)`: recording an entry
 * whose key is already there is a no-op (the first one recorded stays), so
 * redeliveries are harmless. A stream sequence holds one message for the
 * stream's life; a stream deleted and recreated starts again at 1, so
 * `forget` its entries and rebuild the index.
 *
 * The runner (`run`, `layer`) consumes the stream through a durable consumer
 * (`EventLog.consume`) and records each delivery, then acks it. The
 * deliveries in flight at once (up to `concurrency`) are recorded by one
 * `record` call; a delivery is acked once its entry is written. A store
 * failure fails the deliveries of the call (each is then recorded alone,
 * so that a failure is its own delivery's), which are nak'd and come back
 * (a `StoreError` is retryable unless the data caused it). To rebuild: stop the runner,
 * delete its consumer (`Topology.deleteConsumer`), `forget(stream)`, create
 * the consumer again (delivering from the start) and run again.
 *
 * Messages that are not Herald envelopes:
 *
 * - A message without Herald's headers (from a service that does not speak
 *   Herald) is acknowledged and skipped by default: the index observes the
 *   stream, it does not judge it, so it neither dead-letters such a message
 *   nor retries it. `stats.skipped` counts them.
 * - With `foreign` (a `Foreign.Options`), such a message is indexed under
 *   the identity `Foreign` synthesizes (its profile's correlation and
 *   causation headers; else a root of its own, with `Nats-Msg-Id` or
 *   `<stream>:<sequence>` as message id). Pass the same `foreign` to
 *   `Replay.byCorrelation` so that it decodes them the same way.
 * - A message that carries Herald's message id but does not decode (a
 *   malformed Herald message) is dead-lettered by the consumer, as every
 *   consumer does: it is broken for everyone.
 *
 * @since 0.1.0
 */
import { Envelope, EventLog, Foreign, type TransportError, Wire } from "@herald/transport"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as ReplayError from "./ReplayError.ts"

/**
 * One indexed message: where it is stored and the identity it carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly correlationId: string
  readonly messageId: string
  readonly causationId: string
  readonly type: string
  /**
   * The envelope's kind (its `Herald-Kind` header). `null` (or absent, when
   * recording) when it is not known: an entry recorded before the index
   * kept kinds, or a message without Herald's headers (whose kind the
   * decoder would make up). `lookup` answers `null` for those.
   */
  readonly kind?: Envelope.Kind | null | undefined
  readonly subject: string
  readonly stream: string
  readonly sequence: number
  /** When the message was stored (Unix epoch milliseconds). */
  readonly timestamp: number
}

/**
 * Options of `lookup`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LookupOptions {
  /** Only the entries of this stream. */
  readonly stream?: string | undefined
}

/**
 * The index store.
 *
 * @since 0.1.0
 * @category services
 */
export class CorrelationIndex extends Context.Service<CorrelationIndex, {
  /** `memory`, `sql:pg` or `sql:sqlite`. */
  readonly kind: string
  /**
   * Records entries, keyed by `(stream, sequence)`; an entry whose key is
   * already recorded (in the store or earlier in `entries`) is left out.
   * Answers how many were new. An invalid entry fails the whole call with
   * `InvalidConfig`, before anything is written.
   */
  readonly record: (entries: ReadonlyArray<Entry>) => Effect.Effect<number, ReplayError.ReplayError>
  /** The entries of one correlation id, in `(stream, sequence)` order (streams by code point). */
  readonly lookup: (
    correlationId: string,
    options?: LookupOptions
  ) => Effect.Effect<ReadonlyArray<Entry>, ReplayError.ReplayError>
  /** Drops every entry of a stream (before a rebuild); answers how many. */
  readonly forget: (stream: string) => Effect.Effect<number, ReplayError.ReplayError>
}>()("@herald/replay/CorrelationIndex") {}

const nonEmpty = (u: unknown): u is string => typeof u === "string" && u.length > 0

/**
 * Checks an entry: non-empty strings, a known kind (or `null` / none), a
 * positive integer sequence, a finite timestamp. Answers the problem, or
 * `undefined`.
 *
 * @since 0.1.0
 * @category validation
 */
export const entryProblem = (entry: Entry): string | undefined => {
  if (typeof entry !== "object" || entry === null) return `an entry must be an object, got ${String(entry)}`
  for (const field of ["correlationId", "messageId", "causationId", "type", "subject", "stream"] as const) {
    if (!nonEmpty(entry[field])) return `entry ${field} must be a non-empty string, got ${JSON.stringify(entry[field])}`
  }
  if (!(entry.kind === undefined || entry.kind === null || Envelope.isKind(entry.kind))) {
    return `entry kind must be one of ${Envelope.kinds.join(", ")} or null, got ${JSON.stringify(entry.kind)}`
  }
  if (!(typeof entry.sequence === "number" && Number.isSafeInteger(entry.sequence) && entry.sequence >= 1)) {
    return `entry sequence must be a positive integer, got ${String(entry.sequence)}`
  }
  if (!(typeof entry.timestamp === "number" && Number.isFinite(entry.timestamp))) {
    return `entry timestamp must be a finite number, got ${String(entry.timestamp)}`
  }
  return undefined
}

/**
 * Checks entries and drops the later copies of a key within them; every
 * store calls it before it writes.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateEntries = (
  entries: ReadonlyArray<Entry>
): Result.Result<ReadonlyArray<Entry>, ReplayError.ReplayError> => {
  if (!Array.isArray(entries)) return Result.fail(ReplayError.invalid("record: entries must be an array"))
  const seen = new Set<string>()
  const unique: Array<Entry> = []
  for (const entry of entries) {
    const problem = entryProblem(entry)
    if (problem !== undefined) return Result.fail(ReplayError.invalid(`record: ${problem}`))
    const key = `${entry.sequence} ${entry.stream}`
    if (seen.has(key)) continue
    seen.add(key)
    unique.push(entry)
  }
  return Result.succeed(unique)
}

/**
 * Checks a correlation id or stream name given to `lookup` or `forget`.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkName = (what: string, value: unknown): Result.Result<string, ReplayError.ReplayError> =>
  nonEmpty(value)
    ? Result.succeed(value)
    : Result.fail(ReplayError.invalid(`${what} must be a non-empty string, got ${JSON.stringify(value)}`))

/**
 * The order of `lookup`: by stream (code point), then by sequence.
 *
 * @since 0.1.0
 * @category ordering
 */
export const order = (a: Entry, b: Entry): number =>
  a.stream === b.stream ? a.sequence - b.sequence : a.stream < b.stream ? -1 : 1

/**
 * The entry of a delivered message, with its envelope's kind (the runner
 * records `kind: null` for a message without Herald's headers).
 *
 * @since 0.1.0
 * @category constructors
 */
export const entryOf = (message: {
  readonly stream: string
  readonly subject: string
  readonly envelope: EventLog.StoredMessage["envelope"]
  readonly sequence: number
  readonly timestamp: number
}): Entry => ({
  correlationId: message.envelope.identity.correlationId,
  messageId: message.envelope.identity.messageId,
  causationId: message.envelope.identity.causationId,
  type: message.envelope.type,
  kind: message.envelope.kind,
  subject: message.subject,
  stream: message.stream,
  sequence: message.sequence,
  timestamp: message.timestamp
})

// ---------------------------------------------------------------------------
// The runner

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends Omit<EventLog.ConsumeOptions, "concurrency"> {
  /** The stream to index. */
  readonly stream: string
  /** The durable consumer (several runners may share it). */
  readonly consumer: string
  /** Deliveries handled at once, and at most recorded by one `record` call (default 1). Order does not matter to the index. */
  readonly concurrency?: number | undefined
}

/**
 * Counts kept by a runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Entries recorded. */
  readonly recorded: number
  /** Deliveries whose entry was already recorded (redeliveries, a second runner). */
  readonly duplicates: number
  /** Messages without Herald's headers, acknowledged and not indexed (without `foreign`). */
  readonly skipped: number
  /** The consumer's own counts. */
  readonly consumer: EventLog.ConsumerStats
}

/**
 * A running index.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  readonly stats: Effect.Effect<Stats>
  /** Fails when the consumer stops on an error it cannot recover from; never succeeds while running. */
  readonly await: Effect.Effect<never, TransportError.TransportError>
}

const checkRun = (options: RunOptions): Result.Result<void, ReplayError.ReplayError> => {
  if (typeof options !== "object" || options === null) return Result.fail(ReplayError.invalid("run: options are required"))
  if (!nonEmpty(options.stream)) return Result.fail(ReplayError.invalid("stream must be a non-empty string"))
  if (!nonEmpty(options.consumer)) return Result.fail(ReplayError.invalid("consumer must be a non-empty string"))
  const c = options.concurrency
  if (c !== undefined && !(typeof c === "number" && Number.isSafeInteger(c) && c >= 1)) {
    return Result.fail(ReplayError.invalid(`concurrency must be a positive integer, got ${String(c)}`))
  }
  return Result.succeed(undefined)
}

/**
 * Indexes a stream through a durable consumer until the scope closes. The
 * consumer must exist (`Topology.ensure`); it should deliver every message
 * (`DeliverPolicy` all, no filter) for the index to be complete.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  options: RunOptions
): Effect.Effect<
  Handle,
  ReplayError.ReplayError | TransportError.TransportError,
  Scope.Scope | EventLog.EventLog | CorrelationIndex
> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(checkRun(options))
    const index = yield* CorrelationIndex
    const log = yield* EventLog.EventLog
    const counts = { recorded: 0, duplicates: 0, skipped: 0 }
    const { concurrency, consumer, foreign, stream, ...consume } = options
    const parallel = concurrency ?? 1

    // Deliveries in flight are recorded together: each handler queues its
    // entry and waits for the batch holding it to be written.
    interface Pending {
      readonly entry: Entry
      readonly done: Deferred.Deferred<void, ReplayError.ReplayError>
    }
    const queue = yield* Queue.unbounded<Pending>()
    const write = (batch: ReadonlyArray<Pending>): Effect.Effect<void> =>
      Effect.flatMap(Effect.exit(index.record(batch.map((p) => p.entry))), (exit) => {
        if (Exit.isSuccess(exit)) {
          counts.recorded += exit.value
          counts.duplicates += batch.length - exit.value
          return Effect.forEach(batch, (p) => Deferred.succeed(p.done, undefined), { discard: true })
        }
        // one by one, so that a failure is the failure of its own delivery only
        if (batch.length > 1) return Effect.forEach(batch, (p) => write([p]), { discard: true })
        return Deferred.done(batch[0]!.done, exit).pipe(Effect.asVoid)
      })
    yield* Queue.takeBetween(queue, 1, parallel).pipe(
      Effect.flatMap(write),
      Effect.forever,
      Effect.forkScoped
    )

    const handle = yield* log.consume(
      stream,
      consumer,
      (delivery) =>
        Effect.suspend(() => {
          // Consumed with `foreign` always, so that a message without
          // Herald's headers reaches here rather than the dead letters.
          const herald = Foreign.isHerald((name) => Wire.header(delivery.raw, name))
          if (foreign === undefined && !herald) {
            counts.skipped++
            return Effect.void
          }
          const decoded = entryOf({ ...delivery, sequence: delivery.streamSequence })
          // A foreign message's kind is the decoder's default, not the message's.
          const entry: Entry = herald ? decoded : { ...decoded, kind: null }
          return Effect.flatMap(Deferred.make<void, ReplayError.ReplayError>(), (done) =>
            Effect.andThen(Queue.offer(queue, { entry, done }), Deferred.await(done)))
        }),
      { ...consume, foreign: foreign ?? {}, concurrency: parallel }
    )
    return {
      stats: Effect.map(handle.stats, (consumer) => ({ ...counts, consumer })),
      await: handle.await
    } satisfies Handle
  })

/**
 * Runs the index for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: RunOptions
): Layer.Layer<never, ReplayError.ReplayError | TransportError.TransportError, EventLog.EventLog | CorrelationIndex> =>
  Layer.effectDiscard(run(options))
