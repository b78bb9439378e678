/**
 * The NATS KV inbox store, for handlers without a database: one key per
 * (consumer, message id) in a JetStream KV bucket whose TTL (the stream's
 * `max_age`) is the retention. Import it from `@herald/inbox/kv`; it needs
 * `@herald/transport-nats`'s `NatsConnection` and `@nats-io/kv`.
 *
 * **Weaker than the SQL store.** The record is a key in NATS and the
 * handler's effects are somewhere else: they cannot commit together. Two
 * orders are possible, each with its own failure window:
 *
 * | `mode` | order | crash between the two | never |
 * |---|---|---|---|
 * | `markAfterSuccess` (default) | claim key → handler → mark done | the handler runs again after the claim's `lease` | loses an effect |
 * | `markBeforeHandler` | done key → handler (key removed if the handler fails) | the effect is lost: the message is acked or comes back as a duplicate | applies an effect twice |
 *
 * The default is the less bad one for most handlers: at-least-once effects
 * (make the handler tolerate a rare repeat) rather than at-most-once (a
 * silently lost effect). In detail, `markAfterSuccess`:
 *
 * 1. `kv.create(key, claimed until now + lease)`: create-only, so of two
 *    deliveries racing (a redelivery after the ack wait while the first
 *    attempt still runs) exactly one gets the claim.
 * 2. The other finds the key: `done` → a duplicate (skipped, acked);
 *    `claimed` and the lease not over → `InProgress` (retryable: nak'd, it
 *    comes back later); `claimed` and the lease over (the owner died) → it
 *    takes the claim over with a compare-and-set on the key's revision.
 * 3. The owner runs the handler. Success: the key becomes `done` (a
 *    compare-and-set on its claim's revision; a failed mark is retried, then
 *    logged and the message acked). Failure or interruption: the claim is
 *    deleted (compare-and-set) and the failure propagates.
 *
 * A handler that runs longer than `lease` can be taken over and run twice:
 * make the lease longer than the handler's timeout. Lease times come from
 * Effect's `Clock` on each process: keep clocks in sync.
 *
 * Retention is the bucket's TTL, applied by the server: a message delivered
 * again after its key expired is applied again. Choose a TTL longer than
 * the stream's duplicate window plus the longest redelivery horizon.
 * nats-server 2.9 has no per-key TTL (`Nats-TTL`, `markerTTL` need 2.11);
 * this store uses only the bucket's. An existing bucket with another TTL is
 * updated to the one configured.
 *
 * @since 0.1.0
 */
import { Millis } from "@herald/transport"
import { NatsConnection, NatsKv } from "@herald/transport-nats"
import { type KV, type KvEntry, Kvm } from "@nats-io/kv"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
// The package's own main entry, not its files: at runtime and in the built
// declarations, the KV store shares `InboxStore` and `InboxError` with it.
import { InboxError, InboxStore } from "@herald/inbox"

/**
 * The order of record and handler: see the module documentation.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "markAfterSuccess" | "markBeforeHandler"

/**
 * Options of the KV store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The bucket (default `herald_inbox`): letters, digits, `-` and `_`. */
  readonly bucket?: string | undefined
  /** How long a record lives: the bucket's TTL (its stream's `max_age`). */
  readonly ttl: Duration.Input
  /** Default `markAfterSuccess`. */
  readonly mode?: Mode | undefined
  /** How long a claim holds before another delivery may take it over (default 30 seconds). `markAfterSuccess` only. */
  readonly lease?: Duration.Input | undefined
  /** Replicas of the bucket's stream (default 1). */
  readonly replicas?: number | undefined
  /** `file` (default) or `memory` (lost when a single server restarts). */
  readonly storage?: "file" | "memory" | undefined
}

/**
 * The default bucket.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBucket = "herald_inbox"

/**
 * The default lease.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLease: Duration.Duration = Duration.seconds(30)

/** What a key holds. */
interface Value {
  readonly state: "claimed" | "done"
  readonly consumer: string
  readonly messageId: string
  readonly stream: string
  readonly streamSequence: number
  readonly subject: string
  readonly type: string
  readonly deliveryCount: number
  /** When claimed, or when done (Unix epoch milliseconds). */
  readonly at: number
  /** The end of the claim's lease. */
  readonly until?: number | undefined
}


/**
 * A KV key token for any string: letters, digits, `_` and `-` stay; any
 * other byte of its UTF-8 encoding becomes `=XX` (hex). Injective, and a
 * valid KV key token (no `.`, `*`, `>`).
 *
 * @since 0.1.0
 * @category keys
 */
export const keyToken: (s: string) => string = NatsKv.keyToken

/**
 * The key of a record: `<consumer>.<message id>`, each as a `keyToken`.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (consumer: string, messageId: string): string => `${keyToken(consumer)}.${keyToken(messageId)}`

const decoder = new TextDecoder()

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

/** The value of a live key written by this store; `undefined` for no key, a delete marker, or a foreign value. */
const parse = (entry: KvEntry | null): Value | undefined => {
  if (entry === null || entry.operation !== "PUT") return undefined
  const value = Option.getOrUndefined(parseJson(decoder.decode(entry.value)))
  return Predicate.hasProperty(value, "state") && (value.state === "claimed" || value.state === "done") &&
      Predicate.hasProperty(value, "at") && typeof value.at === "number"
    ? value as unknown as Value
    : undefined
}

const toRecord = (v: Value): InboxStore.InboxRecord => ({
  consumer: v.consumer,
  messageId: v.messageId,
  stream: v.stream,
  streamSequence: v.streamSequence,
  subject: v.subject,
  type: v.type,
  deliveryCount: v.deliveryCount,
  processedAt: v.at
})

const durationMillis = (what: string, input: Duration.Input) =>
  Result.match(Millis.decode(input, { min: 1 }), {
    onFailure: (p) => Effect.fail(InboxError.invalid(`KV store: ${what} must be a positive finite duration: ${p.message}`)),
    onSuccess: Effect.succeed
  })

/**
 * Opens (creating it when missing) the bucket and builds the store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<InboxStore.InboxStore["Service"], InboxError.InboxError, NatsConnection.NatsConnection> = Effect.fn(
  "InboxKv.make"
)(function*(options: Options) {
  const connection = yield* NatsConnection.NatsConnection
  const bucket = options.bucket ?? defaultBucket
  if (!NatsKv.isBucketName(bucket)) {
    return yield* Effect.fail(InboxError.invalid(`KV bucket ${JSON.stringify(bucket)}: letters, digits, '-' and '_' only`))
  }
  const ttl = yield* durationMillis("ttl", options.ttl)
  const lease = yield* durationMillis("lease", options.lease ?? defaultLease)
  const mode: Mode = options.mode ?? "markAfterSuccess"
  if (mode !== "markAfterSuccess" && mode !== "markBeforeHandler") {
    return yield* Effect.fail(InboxError.invalid(`KV store: unknown mode ${JSON.stringify(mode)}`))
  }
  const replicas = options.replicas ?? 1
  if (!(Number.isSafeInteger(replicas) && replicas > 0)) {
    return yield* Effect.fail(InboxError.invalid(`KV store: replicas must be a positive integer, got ${replicas}`))
  }
  const { call, conditional, label } = NatsKv.calls(bucket, InboxError.store)

  const kv: KV = yield* call("open", () =>
    new Kvm(connection.jetstream).create(bucket, {
      ttl,
      history: 1,
      replicas,
      storage: options.storage ?? "file"
    }))
  // `Kvm.create` opens an existing bucket as it is: bring its TTL to the one configured.
  const status = yield* call("status", () => kv.status())
  if (status.ttl !== ttl) {
    const config = status.streamInfo.config
    yield* call("update TTL", () => connection.manager.streams.update(config.name, { ...config, max_age: ttl * 1_000_000 }))
    yield* Effect.logInfo(`inbox: ${label}: TTL changed from ${status.ttl} ms to ${ttl} ms`)
  }

  const valueOf = (entry: InboxStore.Entry, state: Value["state"], at: number, until?: number): string =>
    JSON.stringify({ ...entry, state, at, ...(until === undefined ? {} : { until }) } satisfies Value)

  const get = (key: string) => call("get", () => kv.get(key))

  /** Removes a claim (or a mark) this delivery made, unless someone changed it since. */
  const release = (key: string, revision: number) =>
    Effect.ignore(conditional("release", () => kv.purge(key, { previousSeq: revision })))

  /** Marks a claim done: retried a few times, then logged (the message is acked; see the module docs). */
  const markDone = (key: string, entry: InboxStore.Entry, revision: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      conditional("mark done", () => kv.update(key, valueOf(entry, "done", now), revision))).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("100 millis") }),
        Effect.flatMap((updated) =>
          Option.isSome(updated)
            ? Effect.void
            : Effect.logWarning(
              `inbox: ${label}: message ${entry.messageId} of ${entry.consumer}: the handler outlived its lease and another delivery took the claim over; it may run twice`
            )
        ),
        Effect.catch((e) =>
          Effect.logError(
            `inbox: ${label}: message ${entry.messageId} of ${entry.consumer} was applied but cannot be marked done: ${e.message}; a later copy would be applied again`
          )
        )
      )

  /** Takes the claim, or answers that the message is a duplicate; fails with `InProgress` when another delivery holds it. */
  const claim = (key: string, entry: InboxStore.Entry) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const until = now + lease
      const created = yield* conditional("claim", () => kv.create(key, valueOf(entry, "claimed", now, until)))
      if (Option.isSome(created)) return { _tag: "Claimed", revision: created.value } as const
      const existing = yield* get(key)
      const value = parse(existing)
      if (existing !== null && existing.operation === "PUT" && value === undefined) return { _tag: "Duplicate" } as const
      if (value?.state === "done") return { _tag: "Duplicate" } as const
      const inProgress = (until: number) =>
        Effect.fail(
          InboxError.make(new InboxError.InProgress({ consumer: entry.consumer, messageId: entry.messageId, until }))
        )
      if (existing === null || value === undefined) return yield* inProgress(now)
      if ((value.until ?? 0) > now) return yield* inProgress(value.until ?? now)
      const taken = yield* conditional(
        "take over claim",
        () => kv.update(key, valueOf(entry, "claimed", now, until), existing.revision)
      )
      if (Option.isNone(taken)) return yield* inProgress(until)
      yield* Effect.logWarning(
        `inbox: ${label}: message ${entry.messageId} of ${entry.consumer}: took over a claim whose lease ended (its holder died or ran too long); the handler runs again`
      )
      return { _tag: "Claimed", revision: taken.value } as const
    })

  const runAfter = <E, R>(
    entry: InboxStore.Entry,
    effect: Effect.Effect<void, E, R>
  ): Effect.Effect<InboxStore.Outcome, E | InboxError.InboxError, R> => {
    const key = keyOf(entry.consumer, entry.messageId)
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(claim(key, entry)), (claimed) =>
        claimed._tag === "Duplicate"
          ? Effect.succeed("duplicate" as const)
          : restore(effect).pipe(
            Effect.onExit((exit) => exit._tag === "Success" ? Effect.void : release(key, claimed.revision)),
            Effect.andThen(markDone(key, entry, claimed.revision)),
            Effect.as("processed" as const)
          ))
    )
  }

  const runBefore = <E, R>(
    entry: InboxStore.Entry,
    effect: Effect.Effect<void, E, R>
  ): Effect.Effect<InboxStore.Outcome, E | InboxError.InboxError, R> => {
    const key = keyOf(entry.consumer, entry.messageId)
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(
          restore(conditional("mark", () => kv.create(key, valueOf(entry, "done", now)))),
          (created) =>
            Option.isNone(created)
              ? Effect.succeed("duplicate" as const)
              : restore(effect).pipe(
                Effect.onExit((exit) => exit._tag === "Success" ? Effect.void : release(key, created.value)),
                Effect.as("processed" as const)
              )
        ))
    )
  }

  const record = Effect.fn("InboxKv.record")(function*(consumer: string, messageId: string) {
    const value = parse(yield* get(keyOf(consumer, messageId)))
    return value?.state === "done" ? Option.some(toRecord(value)) : Option.none<InboxStore.InboxRecord>()
  })

  /** Every key under a filter, then its value: fine for queries and retention, not for a hot path. */
  const scan = (filter: string) =>
    Effect.flatMap(call("keys", () => kv.keys(filter)), (keys) =>
      Stream.fromAsyncIterable(keys, (e) => InboxError.store(`keys (${label})`, e)).pipe(
        Stream.mapEffect((key) => Effect.map(get(key), (entry) => ({ key, entry })), { concurrency: 16 }),
        Stream.runCollect
      ))

  const records = Effect.fn("InboxKv.records")(function*(query?: InboxStore.Query) {
    const limit = query?.limit ?? InboxStore.defaultLimit
    if (!(Number.isSafeInteger(limit) && limit > 0)) {
      return yield* Effect.fail(InboxError.invalid(`limit must be a positive integer, got ${limit}`))
    }
    const found = yield* scan(query?.consumer === undefined ? ">" : `${keyToken(query.consumer)}.*`)
    const out: Array<InboxStore.InboxRecord> = []
    for (const { entry } of found) {
      const value = parse(entry)
      if (value?.state !== "done") continue
      const r = toRecord(value)
      if (
        (query?.stream === undefined || r.stream === query.stream) &&
        (query?.type === undefined || r.type === query.type) &&
        (query?.since === undefined || r.processedAt >= query.since) &&
        (query?.until === undefined || r.processedAt < query.until)
      ) out.push(r)
    }
    out.sort((a, b) =>
      a.processedAt - b.processedAt ||
      (a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : 0) ||
      (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0)
    )
    return out.slice(0, limit) as ReadonlyArray<InboxStore.InboxRecord>
  })

  const deleteBefore = Effect.fn("InboxKv.deleteBefore")(function*(cutoff: number) {
    const found = yield* scan(">")
    let n = 0
    for (const { entry, key } of found) {
      const value = parse(entry)
      if (entry === null || value?.state !== "done" || value.at >= cutoff) continue
      const purged = yield* conditional("purge", () => kv.purge(key, { previousSeq: entry.revision }))
      if (Option.isSome(purged)) n++
    }
    return n
  })

  const forget = Effect.fn("InboxKv.forget")(function*(consumer: string, messageId: string) {
    const key = keyOf(consumer, messageId)
    const entry = yield* get(key)
    if (entry === null || entry.operation !== "PUT") return false
    yield* call("purge", () => kv.purge(key))
    return true
  })

  return InboxStore.InboxStore.of({
    kind: "kv",
    guarantee: mode,
    run: mode === "markAfterSuccess" ? runAfter : runBefore,
    record,
    records,
    deleteBefore,
    forget
  })
})

/**
 * The KV store as a layer over a `NatsConnection` (`NatsTransport.layer`
 * provides one).
 *
 * ```ts
 * const inbox = InboxKv.layer({ bucket: "billing_inbox", ttl: "7 days" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<InboxStore.InboxStore, InboxError.InboxError, NatsConnection.NatsConnection> =>
  Layer.effect(InboxStore.InboxStore, make(options))
