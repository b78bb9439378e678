/**
 * The relay: moves committed outbox messages to the `EventLog`.
 *
 * ```ts
 * const RelayLive = OutboxRelay.layer({ relays: 1, batchSize: 500 }).pipe(
 *   Layer.provide(OutboxSql.layer()),
 *   Layer.provide(NatsTransport.layer({ servers: "nats://127.0.0.1:4222" })),
 *   Layer.provide(PgClient.layer({ url }))
 * )
 * ```
 *
 * Each relay (`relays` workers per layer, any number of layers and
 * processes on one table) loops:
 *
 * 1. **claim** up to `batchSize` messages with a lease of `lease` (see
 *    `OutboxStore` for the rules: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a
 *    single-writer claim on SQLite; a key with a message in flight, backing
 *    off or parked is skipped, so a key's claimed messages are its oldest
 *    unsent ones);
 * 2. **append** them with `EventLog.appendRaw`, exactly as stored (the
 *    headers carry `Nats-Msg-Id` = the message id): messages of different
 *    keys and messages without a key are pipelined (up to `concurrency` in
 *    flight), messages of one key go one after the other, and the first
 *    failure of a key stops its chain (the rest are given back untried);
 * 3. **settle** the batch: one statement marks every appended message sent,
 *    failures record `last_error`, `attempts` and the time of the next
 *    attempt (or park the message), untried messages are released.
 *
 * A worker keeps `batchesInFlight` (2) batches going: after a full batch
 * it claims and appends the next while the previous one finishes and is
 * settled. When a claim finds nothing, the relay waits for a wake-up —
 * `NOTIFY` on PostgreSQL, a commit in the same process, a batch of its own
 * settled — or `pollInterval`, whichever comes first. A relay that dies between append and settle leaves its
 * messages leased: when the lease expires another relay appends them again
 * with the same `Nats-Msg-Id`, and JetStream answers `duplicate: true`
 * inside its duplicate window (2 minutes by default), so the stream holds one
 * copy. After the window a second copy is stored: keep `lease` well under
 * the window, and let the inbox deduplicate the rest.
 *
 * Failures: a retryable append failure (timeout, connection) is retried
 * after an exponential backoff (`retryBase` doubling up to `retryMax`). A
 * non-retryable one (`NoStreamForSubject`, `MessageTooLarge`, an invalid
 * subject) is recorded the same way and retried after the long
 * `nonRetryableDelay` (default 5 minutes), because most of them are fixed
 * by an operator (create the stream, raise the limit) and the message must
 * not be lost. With `maxAttempts`, a message is parked after that many
 * failed attempts (`state = "failed"`, visible in `Outbox.status` and
 * `Outbox.failures`) until `Outbox.requeue`. Either way nothing is ever
 * dropped, and a failing or parked message keeps blocking the later
 * messages of its partition key.
 *
 * Closing the layer stops claiming, lets the batches in flight finish for up
 * to `shutdownTimeout`, interrupts what is left and releases the leases this
 * layer holds.
 *
 * @since 0.1.0
 */
import { EventLog, type TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Config from "./internal/config.ts"
import * as Relay from "./internal/relay.ts"
import * as OutboxError from "./OutboxError.ts"
import * as OutboxStore from "./OutboxStore.ts"

/**
 * A message the relay appended, with where it was stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Appended {
  readonly message: OutboxStore.ClaimedMessage
  readonly result: EventLog.AppendResult
}

/**
 * Options of the relay.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Relay workers in this layer, each with its own lease owner (default 1). */
  readonly relays?: number | undefined
  /** Messages claimed at once (default 500, at most 10,000). */
  readonly batchSize?: number | undefined
  /**
   * How long a claim holds its messages (default 30 seconds). Another relay
   * may claim them after that, so it must exceed the time a batch takes, and
   * stay well under the stream's duplicate window.
   */
  readonly lease?: Duration.Input | undefined
  /** The longest wait between two claims when nothing wakes the relay (default 1 second). */
  readonly pollInterval?: Duration.Input | undefined
  /** Wake on the store's signals: `NOTIFY` on PostgreSQL, commits in this process (default `true`). */
  readonly listen?: boolean | undefined
  /** Appends in flight at once per batch (default: `batchSize`). */
  readonly concurrency?: number | undefined
  /**
   * Batches a worker relays at once (default 2): the next batch is claimed
   * and appended while the previous one finishes and is settled.
   */
  readonly batchesInFlight?: number | undefined
  /** How long an append waits for the server's acknowledgement (default: the `EventLog`'s, 5 seconds). */
  readonly appendTimeout?: Duration.Input | undefined
  /** The first retry delay of a retryable failure (default 500 ms), doubled at every attempt… */
  readonly retryBase?: Duration.Input | undefined
  /** …up to this (default 1 minute). */
  readonly retryMax?: Duration.Input | undefined
  /** The retry delay after a non-retryable failure (default 5 minutes). */
  readonly nonRetryableDelay?: Duration.Input | undefined
  /** Replaces the backoff: the delay before attempt `attempts + 1` after `error`. */
  readonly retryDelay?: ((attempts: number, error: TransportError.TransportError) => Duration.Input) | undefined
  /** Park a message after this many failed attempts (default: never, retry forever). */
  readonly maxAttempts?: number | undefined
  /** Keep sent messages this long before deleting them (default 1 day; `"Infinity"` keeps them). */
  readonly retention?: Duration.Input | undefined
  /** How often to delete expired sent messages (default 1 minute). */
  readonly cleanupInterval?: Duration.Input | undefined
  /** Rows deleted per statement (default 1,000). */
  readonly cleanupBatch?: number | undefined
  /** How long closing the layer waits for batches in flight (default 10 seconds). */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** A prefix for lease owners, to recognise them in the table (default `relay`). */
  readonly name?: string | undefined
  /**
   * Runs after a batch's appends and before they are marked sent: for
   * instrumentation and fault-injection tests. If it fails, dies or
   * interrupts, the batch is abandoned exactly like a crashed relay's (the
   * leases stay until they expire; an interruption also stops the worker).
   */
  readonly beforeMarkSent?: ((appended: ReadonlyArray<Appended>) => Effect.Effect<void>) | undefined
}

/**
 * What a relay layer has done since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Messages claimed (a message claimed again after a failure counts again). */
  readonly claimed: number
  /** Messages appended and marked sent (including `duplicates`). */
  readonly published: number
  /** Appends the `EventLog` answered `duplicate: true` (already stored: a retry after a crash). */
  readonly duplicates: number
  /** Failed append attempts. */
  readonly failed: number
  /** Messages parked after `maxAttempts`. */
  readonly parked: number
  /** Messages given back untried (behind a failure of their key). */
  readonly released: number
  /** Batches settled. */
  readonly batches: number
  /** Sent messages deleted after the retention period. */
  readonly deleted: number
  /** Operations that failed: claims, settles, cleanups, wake-up subscriptions, the `beforeMarkSent` hook. */
  readonly errors: number
  /** The last failure, append or store. */
  readonly lastError: string | undefined
  readonly lastErrorAt: number | undefined
}

/**
 * A running relay layer.
 *
 * @since 0.1.0
 * @category services
 */
export class OutboxRelay extends Context.Service<OutboxRelay, {
  readonly stats: Effect.Effect<Stats>
  /** The lease owners of this layer's workers. */
  readonly owners: ReadonlyArray<string>
  /** Wakes every worker now (as a `NOTIFY` would). */
  readonly wake: Effect.Effect<void>
}>()("@herald/outbox/OutboxRelay") {}

const maxBatch = 10_000

const resolve = (options: Options | undefined): Result.Result<Relay.Resolved, OutboxError.OutboxError> =>
  Result.gen(function*() {
    const relays = yield* Config.integer("relays", options?.relays, 1, 1, 1_000)
    const batchSize = yield* Config.integer("batchSize", options?.batchSize, 500, 1, maxBatch)
    const leaseMillis = yield* Config.millis("lease", options?.lease, 30_000, 1)
    const pollMillis = yield* Config.millis("pollInterval", options?.pollInterval, 1_000, 1)
    const concurrency = yield* Config.integer("concurrency", options?.concurrency, batchSize, 1, maxBatch)
    const batchesInFlight = yield* Config.integer("batchesInFlight", options?.batchesInFlight, 2, 1, 16)
    const retryBase = yield* Config.millis("retryBase", options?.retryBase, 500)
    const retryMax = yield* Config.millis("retryMax", options?.retryMax, 60_000)
    const nonRetryable = yield* Config.millis("nonRetryableDelay", options?.nonRetryableDelay, 300_000)
    const cleanupMillis = yield* Config.millis("cleanupInterval", options?.cleanupInterval, 60_000, 1)
    const cleanupBatch = yield* Config.integer("cleanupBatch", options?.cleanupBatch, 1_000, 1, 100_000)
    const shutdownMillis = yield* Config.millis("shutdownTimeout", options?.shutdownTimeout, 10_000)
    const maxAttempts = options?.maxAttempts === undefined
      ? undefined
      : yield* Config.integer("maxAttempts", options.maxAttempts, 1, 1, Number.MAX_SAFE_INTEGER)
    const retention = options?.retention === "Infinity"
      ? undefined
      : yield* Config.millis("retention", options?.retention, 86_400_000)
    const appendTimeout = options?.appendTimeout === undefined
      ? undefined
      : yield* Config.millis("appendTimeout", options.appendTimeout, 5_000, 1)
    const fallback = Relay.defaultRetryDelay(retryBase, retryMax, nonRetryable)
    return {
      relays,
      batchSize,
      leaseMillis,
      pollMillis,
      listen: options?.listen ?? true,
      concurrency,
      batchesInFlight,
      // The relay retries a failed append itself, with its backoff, under its
      // lease: an append that kept retrying past the lease would let another
      // relay claim the message meanwhile.
      appendOptions: appendTimeout === undefined ? { retryFor: 0 } : { timeout: appendTimeout, retryFor: 0 },
      retryDelay: options?.retryDelay === undefined ? fallback : Relay.userRetryDelay(options.retryDelay, fallback),
      maxAttempts,
      retentionMillis: retention,
      cleanupMillis,
      cleanupBatch,
      shutdownMillis,
      name: options?.name ?? "relay",
      beforeMarkSent: options?.beforeMarkSent
    } satisfies Relay.Resolved
  })

const snapshot = (stats: Relay.MutableStats): Stats => ({ ...stats })

const ownerId = Effect.map(
  Effect.all([Random.nextIntBetween(0, 0x7fffffff), Random.nextIntBetween(0, 0x7fffffff)]),
  ([a, b]) => `${a.toString(36)}${b.toString(36)}`
)

/**
 * Starts the relay workers, the wake-up listener and the cleanup in the
 * scope; they stop (gracefully) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<
  OutboxRelay["Service"],
  OutboxError.OutboxError,
  OutboxStore.OutboxStore | EventLog.EventLog | Scope.Scope
> = Effect.fn("OutboxRelay.make")(function*(options?: Options) {
  const resolved = yield* Effect.fromResult(resolve(options))
  const store = yield* OutboxStore.OutboxStore
  const eventLog = yield* EventLog.EventLog
  const engine = Relay.make(store, eventLog, resolved)
  const id = yield* ownerId
  const owners = Array.from({ length: resolved.relays }, (_, i) => `${resolved.name}-${id}-${i}`)
  const wakeQueues = yield* Effect.forEach(owners, () => Queue.sliding<void>(1))
  let stopping = false
  const wakeAll = Effect.sync(() => {
    for (const queue of wakeQueues) Queue.offerUnsafe(queue, undefined)
  })

  // A worker keeps up to `batchesInFlight` batches going: after a full batch
  // it claims the next one at once and appends it while the previous one's
  // last acknowledgements arrive and it is settled, so neither the database
  // nor the transport waits for the other. A claim never returns a message
  // in flight (it is leased) nor any message of a key with a message in
  // flight (the key is blocked), so batches in flight never share a key and
  // the rules of a single batch hold. A slot frees when a batch's appends
  // are done; its settle runs on (at most `batchesInFlight` at once) and
  // wakes the worker, since it may unblock keys or release messages.
  const worker = (owner: string, wake: Queue.Queue<void>) =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const appending: Array<Fiber.Fiber<void>> = []
      const settling: Array<Fiber.Fiber<void>> = []
      let crashed = false
      const settle = (outcome: Relay.Outcome) =>
        Effect.catchCause(engine.settle(owner, outcome), (cause) => engine.recordError("settle", cause)).pipe(
          Effect.andThen(Effect.sync(() => {
            Queue.offerUnsafe(wake, undefined)
          }))
        )
      const relayBatch = (rows: ReadonlyArray<OutboxStore.ClaimedMessage>) =>
        Effect.gen(function*() {
          const appended = yield* Effect.exit(engine.appendBatch(rows))
          if (Exit.isFailure(appended)) {
            // Only the `beforeMarkSent` hook can fail here: the batch is abandoned, its leases left to
            // expire, as a crashed relay's. An interruption from inside stops the worker, as a crash would.
            if (Cause.hasInterruptsOnly(appended.cause)) crashed = true
            else yield* engine.recordError("append", appended.cause)
            return
          }
          while (settling.length >= resolved.batchesInFlight) yield* Fiber.join(settling.shift()!)
          settling.push(yield* Effect.forkIn(settle(appended.value), scope))
        })
      while (!stopping && !crashed) {
        while (appending.length >= resolved.batchesInFlight) yield* Fiber.join(appending.shift()!)
        if (crashed) break
        const claimed = yield* Effect.exit(engine.claim(owner))
        if (Exit.isFailure(claimed)) {
          yield* engine.recordError("claim", claimed.cause)
        } else if (claimed.value.length > 0) {
          appending.push(yield* Effect.forkIn(relayBatch(claimed.value), scope))
          if (claimed.value.length >= resolved.batchSize) continue
        }
        if (stopping || crashed) break
        yield* Effect.raceFirst(Queue.take(wake), Effect.sleep(resolved.pollMillis))
      }
      if (crashed) yield* Fiber.interruptAll(appending)
      else while (appending.length > 0) yield* Fiber.join(appending.shift()!)
      while (settling.length > 0) yield* Fiber.join(settling.shift()!)
    }).pipe(Effect.scoped)

  const fibers = yield* Effect.forEach(owners, (owner, i) => Effect.forkScoped(worker(owner, wakeQueues[i]!)))

  if (resolved.listen) {
    const listen = Stream.runForEach(store.wakeups, () => wakeAll).pipe(
      Effect.catchCause((cause) =>
        Effect.andThen(engine.recordError("listen", cause), Effect.sleep(resolved.pollMillis))
      ),
      Effect.forever
    )
    yield* Effect.forkScoped(listen)
  }

  if (resolved.retentionMillis !== undefined) {
    const cleanup = Effect.sleep(resolved.cleanupMillis).pipe(
      Effect.andThen(engine.cleanup),
      Effect.catchCause((cause) => engine.recordError("cleanup", cause)),
      Effect.forever
    )
    yield* Effect.forkScoped(cleanup)
  }

  // Runs before the forkScoped interruptions (finalizers run in reverse).
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      stopping = true
      yield* wakeAll
      yield* Effect.ignore(Effect.timeout(Fiber.awaitAll(fibers), resolved.shutdownMillis))
      yield* Fiber.interruptAll(fibers)
      for (const owner of owners) {
        yield* Effect.ignore(store.releaseOwner(owner))
      }
    })
  )

  return OutboxRelay.of({
    stats: Effect.sync(() => snapshot(engine.stats)),
    owners,
    wake: wakeAll
  })
})

/**
 * The relay as a layer: the workers run while the layer is alive. Fails
 * with `InvalidConfig` when an option is out of range.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<OutboxRelay, OutboxError.OutboxError, OutboxStore.OutboxStore | EventLog.EventLog> =>
  Layer.effect(OutboxRelay, make(options))

/**
 * Relays everything claimable now, batch after batch, in the current fiber,
 * then answers what it did: for tests, scripts and scheduled jobs that do
 * not keep a relay running. Messages waiting out a backoff, leased elsewhere
 * or parked are left alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const drain = Effect.fn("OutboxRelay.drain")(function*(options?: Options) {
  const resolved = yield* Effect.fromResult(resolve(options))
  const store = yield* OutboxStore.OutboxStore
  const eventLog = yield* EventLog.EventLog
  const engine = Relay.make(store, eventLog, resolved)
  const owner = `${resolved.name}-${yield* ownerId}-drain`
  yield* Effect.onExit(
    Effect.gen(function*() {
      while ((yield* engine.runBatch(owner)) > 0) {
        // next batch
      }
    }),
    (exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(store.releaseOwner(owner))
  )
  return snapshot(engine.stats)
})

/**
 * Deletes the sent messages older than `retention` (default 1 day) now, in
 * rounds of 1,000; answers how many.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cleanup = Effect.fn("OutboxRelay.cleanup")(function*(retention?: Duration.Input) {
  const store = yield* OutboxStore.OutboxStore
  const retentionMillis = yield* Effect.fromResult(Config.millis("retention", retention, 86_400_000))
  return yield* Relay.deleteExpired(store, retentionMillis, 1_000)
})
