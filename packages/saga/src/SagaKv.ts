/**
 * The NATS KV saga store: instances, their timeouts, their history and the
 * messages they send, in one JetStream KV bucket. Import it from
 * `@herald/saga/kv`; it needs `@herald/transport-nats`'s `NatsConnection`,
 * `@nats-io/kv`, and an `EventLog` (which `flush` appends to).
 *
 * **What is atomic.** NATS KV writes one key at a time, with a
 * compare-and-set on that key's revision. What one transition must change
 * together lives in one document per instance, written with one
 * compare-and-set; the trigger's `p.` key makes "processed by the saga"
 * hold across the saga's instances; the other keys are indexes and history:
 *
 * | key | value | written |
 * |---|---|---|
 * | `i.<saga>.<id>` | the instance, the message ids of its last `processedLimit` triggers, its pending timeouts, its outgoing messages not yet appended, its last history entry | by `commit`, compare-and-set on the revision loaded (create-only for a new instance) |
 * | `p.<saga>.<message id>` | the trigger's claim (`claimed` by a commit in flight, or `done`) | create-only before the compare-and-set; `done` after it (and again before the instance's next transition) |
 * | `h.<saga>.<id>.<version>` | one history entry | before the compare-and-set of the next transition (the document holds the newest) |
 * | `t.<saga>.<token>` | index of a pending timeout: its instance and `dueAt` | before the compare-and-set |
 * | `o.<saga>.<id>.<version>` | index of a transition's outgoing messages | before the compare-and-set |
 *
 * Every `<...>` is a `keyToken` (any string, escaped into a valid key token).
 *
 * **The rules of `SagaStore`, and how they hold here.**
 *
 * - `commit` reads the document and answers `"duplicate"` when the trigger
 *   is in its processed list. It then creates the trigger's `p.` key as a
 *   claim: a `done` key is a `"duplicate"`; a claim of another commit is
 *   judged by that commit's instance document: the trigger is in its
 *   processed list (`"duplicate"`), the document moved past the revision
 *   that commit read (it lost: the claim is taken over), or neither (it may
 *   still land: the commit waits a little, up to about 2 seconds, and then
 *   answers `"conflict"`, which is retryable). With the claim, `commit`
 *   answers `"conflict"` when the version is not `expectedVersion` or the
 *   fired timeout is not pending, else writes the new document with a
 *   compare-and-set on the revision it read (refused: `"conflict"`). A
 *   commit that does not write its document deletes its claim. So of
 *   commits of one trigger, on one instance or on several, one commits and
 *   the others are duplicates; of commits from one version, one commits.
 * - A claim left by a commit that crashed before its compare-and-set is
 *   taken over once its instance moves on, or once it is `grace` old. A
 *   claim whose commit landed but crashed before marking it `done` still
 *   counts (its document lists the trigger), and the instance's next
 *   transition, or `deleteFinished`, marks it `done`.
 * - The processed list is bounded (`processedLimit`, default 1000 per
 *   instance); the `p.` keys are not: they live as long as their instance,
 *   and `deleteFinished` deletes them with it (as every store forgets a
 *   deleted instance's processed messages).
 * - The history is complete: the document holds the newest entry, and each
 *   transition writes the previous one to its `h.` key before its own
 *   compare-and-set (rewriting an entry already written is harmless).
 * - Outgoing messages wait in the document (already encoded, `Wire.encode`,
 *   with their own message ids). `flush` lists the `o.` keys in the order
 *   they were written (the bucket's sequence: commit order, for commits
 *   that do not overlap in time), appends each transition's messages with
 *   `EventLog.appendRaw`, removes them from the document (compare-and-set,
 *   retried) and then the `o.` key. A crash or a failure between an append
 *   and the removal appends the message again on the next flush, with the
 *   same `Nats-Msg-Id`: JetStream drops it as a duplicate inside the
 *   stream's duplicate window (2 minutes by default), so a store whose flush
 *   stays broken longer than that can deliver a message twice. A message
 *   whose append fails holds back its instance's later messages; other
 *   instances are still flushed, and the flush then fails with the first
 *   error.
 * - `due` lists the `t.` keys, keeps those due, and reads their documents:
 *   only timeouts still in their document are answered, so a cancelled or
 *   fired timeout whose index entry is left over is never delivered.
 *
 * **Index keys and `grace`.** The `t.` and `o.` keys are written before the
 * compare-and-set, so a crash never leaves a stored timeout or a pending
 * message without its index entry; a commit that then loses leaves index
 * entries that point at nothing. Each entry (and each claim) records the
 * document revision its commit read. `due` and `flush` remove an entry that
 * its document does not need (the timeout is not in it; the transition's
 * messages are not) once the document has moved past that revision (the
 * commit landed, or never will: its compare-and-set expects that revision;
 * the one exception is a create that stalls until an instance of the same
 * id was created, finished and removed by `deleteFinished`), or, when it has
 * not (the commit crashed before its compare-and-set, or is still in
 * flight), once the entry is at least `grace` old (default 1 minute). The
 * guarantees therefore assume that no commit takes longer than `grace`
 * between its first write and its compare-and-set, and that the clocks of
 * the processes sharing the bucket are within `grace` of each other.
 *
 * **Scans.** `list`, `counts` and `deleteFinished` scan the instance keys
 * (of one saga when the query names it); `due` scans the timeout index,
 * `flush` the `o.` keys, `history` one instance's `h.` keys. `counts` has no
 * index to read: each call lists the keys and reads every instance document
 * (a metrics refresh every 15 seconds over 10,000 instances reads 10,000
 * documents each time; refresh less often on a large bucket). A scan lists keys and reads each:
 * fine for thousands of instances, not for millions. A document that does
 * not parse is skipped (logged) by the scans, and is a `CorruptState` for
 * `load`, `commit`, `timeouts` and `history`.
 *
 * **Retention.** `deleteFinished` removes an instance's document, history,
 * index keys and the `p.` keys of its processed messages (one scan of the
 * saga's `p.` keys per call), but not an instance whose outgoing messages
 * are not all appended yet (run `flush` first; a later call deletes it). The bucket has no TTL and keeps one revision per key (deleted
 * keys leave a small purge marker in the bucket's stream).
 *
 * A document holds the instance's state, its last `processedLimit` message
 * ids, its timeouts and its unsent messages: it must fit the server's
 * maximum payload (1 MB by default).
 *
 * @since 0.1.0
 */
import { Subject } from "@herald/subject"
import { EventLog, Millis, Wire } from "@herald/transport"
import { NatsConnection, NatsKv } from "@herald/transport-nats"
import { type KV, type KvEntry, Kvm } from "@nats-io/kv"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { Base64 } from "effect/encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
// The package's own main entry, not its files: at runtime and in the built
// declarations, the KV store shares `SagaStore` and `SagaError` with it.
import { SagaError, SagaStore } from "@herald/saga"

/**
 * Options of the KV store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The bucket (default `herald_sagas`): letters, digits, `-` and `_`. */
  readonly bucket?: string | undefined
  /** How many trigger message ids each document keeps (default 1000). */
  readonly processedLimit?: number | undefined
  /**
   * How old a `t.` or `o.` index entry, or a trigger's claim, must be before
   * it is treated as left over by a commit that never landed (default 1
   * minute; see the module documentation).
   */
  readonly grace?: Duration.Input | undefined
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
export const defaultBucket = "herald_sagas"

/**
 * The default number of trigger message ids a document keeps.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultProcessedLimit = 1000

/**
 * The default grace of index entries.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultGrace: Duration.Duration = Duration.minutes(1)

const decoder = new TextDecoder()

/**
 * A KV key token for any string: letters, digits, `_` and `-` stay; any
 * other byte of its UTF-8 encoding becomes `=XX` (hex). Injective, and a
 * valid KV key token (no `.`, `*`, `>`). The empty string is `=`.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyToken: (s: string) => string = NatsKv.keyToken

/**
 * The keys of the store (see the module documentation).
 *
 * @since 0.1.0
 * @category keys
 */
export const keys = {
  instance: (saga: string, id: string): string => `i.${keyToken(saga)}.${keyToken(id)}`,
  history: (saga: string, id: string, version: number): string =>
    `h.${keyToken(saga)}.${keyToken(id)}.${String(version).padStart(12, "0")}`,
  processed: (saga: string, messageId: string): string => `p.${keyToken(saga)}.${keyToken(messageId)}`,
  timeout: (saga: string, token: string): string => `t.${keyToken(saga)}.${keyToken(token)}`,
  outgoing: (saga: string, id: string, version: number): string =>
    `o.${keyToken(saga)}.${keyToken(id)}.${String(version).padStart(12, "0")}`
} as const

// ---------------------------------------------------------------------------
// Stored forms (JSON)
// ---------------------------------------------------------------------------

interface StoredMessage {
  readonly subject: string
  readonly messageId: string
  /** The version of the transition that sent it. */
  readonly version: number
  readonly headers: Readonly<Record<string, string>>
  /** Base64. */
  readonly body: string
}

interface StoredTimeout {
  readonly token: string
  readonly name: string
  readonly dueAt: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

interface StoredHistory {
  readonly version: number
  readonly trigger: {
    readonly messageId: string
    readonly type: string
    readonly subject: string
    readonly stream: string | null
    readonly streamSequence: number | null
  }
  readonly status: SagaStore.Status
  readonly outgoing: SagaStore.HistoryEntry["outgoing"]
  readonly scheduled: SagaStore.HistoryEntry["scheduled"]
  readonly cancelled: ReadonlyArray<string>
  readonly at: number
}

interface Doc {
  readonly format: 1
  readonly saga: string
  readonly id: string
  readonly status: SagaStore.Status
  readonly state: unknown
  readonly version: number
  readonly createdAt: number
  readonly updatedAt: number
  readonly failure: string | null
  readonly processed: ReadonlyArray<string>
  readonly pending: ReadonlyArray<StoredMessage>
  readonly timeouts: ReadonlyArray<StoredTimeout>
  readonly last: StoredHistory
}

/** A `t.` key's value. */
interface TimeoutIndex {
  readonly saga: string
  readonly id: string
  readonly token: string
  readonly dueAt: number
  /** When written (Unix epoch milliseconds). */
  readonly at: number
  /** The revision of the document the commit that wrote it read (0: none). */
  readonly after: number
}

/** An `o.` key's value. */
interface OutgoingIndex {
  readonly saga: string
  readonly id: string
  /** The version of the transition whose messages it indexes. */
  readonly version: number
  readonly at: number
  /** The revision of the document the commit that wrote it read (0: none). */
  readonly after: number
}

/** A `p.` key's value: a commit of the trigger in flight (`claimed`), or committed (`done`). */
interface Claim {
  readonly state: "claimed" | "done"
  /** The instance the trigger was (or is being) applied to. */
  readonly id: string
  readonly version: number
  /** The revision of the instance's document the claiming commit read (0: none). */
  readonly after: number
  /** When written (Unix epoch milliseconds). */
  readonly at: number
}

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

const valueOf = (entry: KvEntry | null): unknown =>
  entry === null || entry.operation !== "PUT" ? undefined : Option.getOrUndefined(parseJson(decoder.decode(entry.value)))

const isString = (u: unknown): u is string => typeof u === "string"
const isNumber = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)
const isStatus = (u: unknown): u is SagaStore.Status =>
  typeof u === "string" && (SagaStore.statuses as ReadonlyArray<string>).includes(u)
const isHeaders = (u: unknown): u is Record<string, string> =>
  Predicate.isObject(u) && !Array.isArray(u) && Object.values(u).every(isString)

const isStoredMessage = (u: unknown): u is StoredMessage =>
  Predicate.hasProperty(u, "subject") && isString(u.subject) && Predicate.hasProperty(u, "messageId") &&
  isString(u.messageId) && Predicate.hasProperty(u, "version") && isNumber(u.version) &&
  Predicate.hasProperty(u, "headers") && isHeaders(u.headers) &&
  Predicate.hasProperty(u, "body") && isString(u.body)

const isStoredTimeout = (u: unknown): u is StoredTimeout =>
  Predicate.hasProperty(u, "token") && isString(u.token) && Predicate.hasProperty(u, "name") && isString(u.name) &&
  Predicate.hasProperty(u, "dueAt") && isNumber(u.dueAt) && Predicate.hasProperty(u, "headers") &&
  isHeaders(u.headers) && Predicate.hasProperty(u, "body") && isString(u.body)

const isStoredHistory = (u: unknown): u is StoredHistory =>
  Predicate.hasProperty(u, "version") && isNumber(u.version) && Predicate.hasProperty(u, "trigger") &&
  Predicate.hasProperty(u.trigger, "messageId") && isString(u.trigger.messageId) &&
  Predicate.hasProperty(u, "status") && isStatus(u.status) && Predicate.hasProperty(u, "outgoing") &&
  Array.isArray(u.outgoing) && Predicate.hasProperty(u, "scheduled") && Array.isArray(u.scheduled) &&
  Predicate.hasProperty(u, "cancelled") && Array.isArray(u.cancelled) && Predicate.hasProperty(u, "at") &&
  isNumber(u.at)

/** The shape of a document; `undefined` when it is not one. */
const asDoc = (u: unknown): Doc | undefined =>
  Predicate.hasProperty(u, "format") && u.format === 1 && Predicate.hasProperty(u, "saga") && isString(u.saga) &&
    Predicate.hasProperty(u, "id") && isString(u.id) && Predicate.hasProperty(u, "status") && isStatus(u.status) &&
    Predicate.hasProperty(u, "version") && isNumber(u.version) && Predicate.hasProperty(u, "createdAt") &&
    isNumber(u.createdAt) && Predicate.hasProperty(u, "updatedAt") && isNumber(u.updatedAt) &&
    Predicate.hasProperty(u, "failure") && (u.failure === null || isString(u.failure)) &&
    Predicate.hasProperty(u, "processed") && Array.isArray(u.processed) && u.processed.every(isString) &&
    Predicate.hasProperty(u, "pending") && Array.isArray(u.pending) && u.pending.every(isStoredMessage) &&
    Predicate.hasProperty(u, "timeouts") && Array.isArray(u.timeouts) && u.timeouts.every(isStoredTimeout) &&
    Predicate.hasProperty(u, "last") && isStoredHistory(u.last)
    ? u as unknown as Doc
    : undefined

const asTimeoutIndex = (u: unknown): TimeoutIndex | undefined =>
  Predicate.hasProperty(u, "saga") && isString(u.saga) && Predicate.hasProperty(u, "id") && isString(u.id) &&
    Predicate.hasProperty(u, "token") && isString(u.token) && Predicate.hasProperty(u, "dueAt") &&
    isNumber(u.dueAt) && Predicate.hasProperty(u, "at") && isNumber(u.at) && Predicate.hasProperty(u, "after") &&
    isNumber(u.after)
    ? u as unknown as TimeoutIndex
    : undefined

const asOutgoingIndex = (u: unknown): OutgoingIndex | undefined =>
  Predicate.hasProperty(u, "saga") && isString(u.saga) && Predicate.hasProperty(u, "id") && isString(u.id) &&
    Predicate.hasProperty(u, "version") && isNumber(u.version) &&
    Predicate.hasProperty(u, "at") && isNumber(u.at) && Predicate.hasProperty(u, "after") && isNumber(u.after)
    ? u as unknown as OutgoingIndex
    : undefined

/** A `p.` key's value; a value this store did not write counts as `done`. */
const asClaim = (u: unknown): Claim =>
  Predicate.hasProperty(u, "state") && u.state === "claimed" && Predicate.hasProperty(u, "id") && isString(u.id) &&
    Predicate.hasProperty(u, "version") && isNumber(u.version) && Predicate.hasProperty(u, "after") &&
    isNumber(u.after) && Predicate.hasProperty(u, "at") && isNumber(u.at)
    ? u as unknown as Claim
    : { state: "done", id: "", version: 0, after: 0, at: 0 }

const toInstance = (d: Doc): SagaStore.Instance => ({
  saga: d.saga,
  id: d.id,
  status: d.status,
  state: d.state,
  version: d.version,
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
  failure: d.failure ?? undefined
})

const toHistory = (d: { readonly saga: string; readonly id: string }, h: StoredHistory): SagaStore.HistoryEntry => ({
  saga: d.saga,
  id: d.id,
  version: h.version,
  trigger: {
    messageId: h.trigger.messageId,
    type: h.trigger.type,
    subject: h.trigger.subject,
    stream: h.trigger.stream ?? undefined,
    streamSequence: h.trigger.streamSequence ?? undefined
  },
  status: h.status,
  outgoing: h.outgoing,
  scheduled: h.scheduled,
  cancelled: h.cancelled,
  at: h.at
})

const bodyOf = (base64: string): Uint8Array | undefined => {
  const decoded = Base64.decode(base64)
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

const byDue = (a: { readonly dueAt: number; readonly token: string }, b: { readonly dueAt: number; readonly token: string }) =>
  a.dueAt - b.dueAt || (a.token < b.token ? -1 : a.token > b.token ? 1 : 0)

/** How many times a commit looks at another commit's claim of its trigger before answering `"conflict"`. */
const claimAttempts = 30

/**
 * Opens (creating it when missing) the bucket and builds the store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<
  SagaStore.SagaStore["Service"],
  SagaError.SagaError,
  NatsConnection.NatsConnection | EventLog.EventLog
> = Effect.fn("SagaKv.make")(function*(options?: Options) {
  const connection = yield* NatsConnection.NatsConnection
  const log = yield* EventLog.EventLog
  const bucket = options?.bucket ?? defaultBucket
  if (!NatsKv.isBucketName(bucket)) {
    return yield* Effect.fail(SagaError.invalid(`KV bucket ${JSON.stringify(bucket)}: letters, digits, '-' and '_' only`))
  }
  const processedLimit = options?.processedLimit ?? defaultProcessedLimit
  if (!(Number.isSafeInteger(processedLimit) && processedLimit > 0)) {
    return yield* Effect.fail(
      SagaError.invalid(`KV store: processedLimit must be a positive integer, got ${processedLimit}`)
    )
  }
  const grace = yield* Result.match(Millis.decode(options?.grace ?? defaultGrace), {
    onFailure: (p) => Effect.fail(SagaError.invalid(`KV store: grace must be a finite duration: ${p.message}`)),
    onSuccess: Effect.succeed
  })
  const replicas = options?.replicas ?? 1
  if (!(Number.isSafeInteger(replicas) && replicas > 0)) {
    return yield* Effect.fail(SagaError.invalid(`KV store: replicas must be a positive integer, got ${replicas}`))
  }
  const storage = options?.storage ?? "file"
  if (storage !== "file" && storage !== "memory") {
    return yield* Effect.fail(SagaError.invalid(`KV store: storage must be "file" or "memory", got ${String(storage)}`))
  }
  const { call, conditional, label } = NatsKv.calls(bucket, SagaError.store)

  const kv: KV = yield* call("open", () => new Kvm(connection.jetstream).create(bucket, { history: 1, replicas, storage }))

  const get = (key: string) => call("get", () => kv.get(key))
  const put = (key: string, value: unknown) => call("put", () => kv.put(key, JSON.stringify(value)))
  /** Purges a key, only at the revision given when there is one; `false` when it moved. */
  const purge = (key: string, revision?: number) =>
    Effect.map(
      conditional("purge", () => kv.purge(key, revision === undefined ? undefined : { previousSeq: revision })),
      Option.isSome
    )

  /** Every live key under a filter, with its entry: for scans, not for a hot path. */
  const scan = (filter: string) =>
    Effect.flatMap(call("keys", () => kv.keys(filter)), (names) =>
      Stream.fromAsyncIterable(names, (e) => SagaError.store(`keys (${label})`, e)).pipe(
        Stream.mapEffect((key) => Effect.map(get(key), (entry) => ({ key, entry })), { concurrency: 16 }),
        Stream.runCollect,
        Effect.map((found) =>
          Array.from(found).filter((f): f is { key: string; entry: KvEntry } =>
            f.entry !== null && f.entry.operation === "PUT"
          )
        )
      ))

  const corrupt = (saga: string, id: string, detail: string) =>
    SagaError.make(new SagaError.CorruptState({ saga, id, detail: `${label}: ${detail}` }))

  /** The document of an instance with its revision; `undefined` when there is none. */
  const loadDoc = (saga: string, id: string) =>
    Effect.flatMap(get(keys.instance(saga, id)), (entry) => {
      if (entry === null || entry.operation !== "PUT") return Effect.succeed(undefined)
      const doc = asDoc(valueOf(entry))
      return doc === undefined || doc.saga !== saga || doc.id !== id
        ? Effect.fail(corrupt(saga, id, "the instance document does not parse"))
        : Effect.succeed({ doc, revision: entry.revision })
    })

  const toTimeout = (d: Doc, t: StoredTimeout): SagaStore.Timeout | undefined => {
    const body = bodyOf(t.body)
    return body === undefined ? undefined : {
      saga: d.saga,
      id: d.id,
      token: t.token,
      name: t.name,
      dueAt: t.dueAt,
      message: { headers: t.headers, body }
    }
  }

  const invalidTransition = (c: SagaStore.Commit, detail: string, cause?: unknown) =>
    SagaError.make(new SagaError.InvalidTransition({ saga: c.saga, id: c.id, detail, cause }))

  /** Best effort: a failure is logged, the commit having already happened. */
  const afterwards = (what: string, effect: Effect.Effect<unknown, SagaError.SagaError>) =>
    Effect.catch(effect, (e) => Effect.logWarning(`saga: ${label}: ${what}: ${e.message}`))

  const done = (claim: { readonly id: string; readonly version: number }, at: number): Claim => ({
    state: "done",
    id: claim.id,
    version: claim.version,
    after: 0,
    at
  })

  /**
   * Where a claim of another commit stands: `applied` (its instance's
   * document lists the trigger), `void` (its commit lost, or crashed and the
   * claim is at least `grace` old), or `pending` (its commit may still land).
   */
  const judge = (saga: string, messageId: string, claim: Claim, clock: number) =>
    Effect.map(loadDoc(saga, claim.id), (loaded) => {
      if (loaded?.doc.processed.includes(messageId) === true) return "applied" as const
      // Its compare-and-set expects `after`: the document moved past it (or
      // was deleted after it), so it cannot land any more.
      if (loaded !== undefined ? loaded.revision > claim.after : claim.after > 0) return "void" as const
      return clock - claim.at >= grace ? "void" as const : "pending" as const
    })

  /**
   * Takes the trigger's `p.` key for this commit (create-only): answers its
   * revision, `"duplicate"` when the saga processed the trigger, or
   * `"busy"` when another commit of the same trigger is still in flight
   * after a few short waits.
   */
  const claimTrigger = (c: SagaStore.Commit, mine: Claim) =>
    Effect.gen(function*() {
      const key = keys.processed(c.saga, c.trigger.messageId)
      const value = JSON.stringify(mine)
      for (let attempt = 0; attempt < claimAttempts; attempt++) {
        const created = yield* conditional("claim trigger", () => kv.create(key, value))
        if (Option.isSome(created)) return created.value
        const entry = yield* get(key)
        if (entry === null || entry.operation !== "PUT") continue
        const claim = asClaim(valueOf(entry))
        if (claim.state === "done") return "duplicate" as const
        const verdict = yield* judge(c.saga, c.trigger.messageId, claim, yield* Clock.currentTimeMillis)
        if (verdict === "applied") {
          yield* Effect.ignore(
            conditional("mark trigger done", () => kv.update(key, JSON.stringify(done(claim, mine.at)), entry.revision))
          )
          return "duplicate" as const
        }
        if (verdict === "void") {
          const taken = yield* conditional("take over trigger claim", () => kv.update(key, value, entry.revision))
          if (Option.isSome(taken)) return taken.value
          continue
        }
        yield* Effect.sleep(Duration.millis(Math.min(2 ** attempt, 100)))
      }
      return "busy" as const
    })

  const commit = Effect.fn("SagaKv.commit")(function*(c: SagaStore.Commit) {
    const version = c.expectedVersion + 1
    const pending: Array<StoredMessage> = []
    for (const o of c.outgoing) {
      // A subject the EventLog refuses would stay at the head of its instance's queue, holding back every later message.
      const subject = Subject.make(o.subject)
      if (subject._tag === "Failure") {
        return yield* Effect.fail(
          invalidTransition(c, `outgoing ${o.envelope.type} on ${o.subject}: ${subject.failure.message}`, subject.failure)
        )
      }
      const raw = Wire.encode(o.envelope)
      if (raw._tag === "Failure") {
        return yield* Effect.fail(
          invalidTransition(c, `outgoing ${o.envelope.type} on ${o.subject}: ${raw.failure.message}`, raw.failure)
        )
      }
      pending.push({
        subject: o.subject,
        messageId: o.envelope.identity.messageId,
        version,
        headers: raw.success.headers,
        body: Base64.encode(raw.success.body)
      })
    }
    for (const t of c.schedule) {
      if (t.saga !== c.saga || t.id !== c.id) {
        return yield* Effect.fail(invalidTransition(c, `timeout ${t.name} belongs to ${t.saga} ${t.id}`))
      }
      if (!isNumber(t.dueAt)) return yield* Effect.fail(invalidTransition(c, `timeout ${t.name}: dueAt is not a time`))
    }
    if (!(Number.isSafeInteger(c.expectedVersion) && c.expectedVersion >= 0)) {
      return yield* Effect.fail(invalidTransition(c, `expectedVersion ${c.expectedVersion} is not a version`))
    }
    const loaded = yield* loadDoc(c.saga, c.id)
    const doc = loaded?.doc
    if (doc !== undefined && doc.processed.includes(c.trigger.messageId)) return "duplicate" as const
    const at = yield* Clock.currentTimeMillis
    const after = loaded?.revision ?? 0
    const claimKey = keys.processed(c.saga, c.trigger.messageId)
    const claimed = yield* claimTrigger(c, { state: "claimed", id: c.id, version, after, at })
    if (claimed === "duplicate") return "duplicate" as const
    if (claimed === "busy") return "conflict" as const
    const release = Effect.ignore(purge(claimKey, claimed))
    if ((doc?.version ?? 0) !== c.expectedVersion) return yield* Effect.as(release, "conflict" as const)
    const before = doc?.timeouts ?? []
    if (c.fired !== undefined && !before.some((t) => t.token === c.fired)) {
      return yield* Effect.as(release, "conflict" as const)
    }

    const replaced = new Set([...c.cancel, ...c.schedule.map((t) => t.name)])
    const removed = before.filter((t) => t.token === c.fired || replaced.has(t.name))
    const scheduled = new Map<string, StoredTimeout>()
    for (const t of c.schedule) {
      scheduled.set(t.name, {
        token: t.token,
        name: t.name,
        dueAt: t.dueAt,
        headers: t.message.headers,
        body: Base64.encode(t.message.body)
      })
    }
    const entry = SagaStore.historyOf(c)
    const last: StoredHistory = {
      version,
      trigger: {
        ...entry.trigger,
        stream: entry.trigger.stream ?? null,
        streamSequence: entry.trigger.streamSequence ?? null
      },
      status: entry.status,
      outgoing: entry.outgoing,
      scheduled: entry.scheduled,
      cancelled: entry.cancelled,
      at: entry.at
    }
    const next: Doc = {
      format: 1,
      saga: c.saga,
      id: c.id,
      status: c.status,
      state: c.state,
      version,
      createdAt: doc?.createdAt ?? c.now,
      updatedAt: c.now,
      failure: c.failure ?? null,
      processed: [...(doc?.processed ?? []), c.trigger.messageId].slice(-processedLimit),
      pending: [...(doc?.pending ?? []), ...pending],
      timeouts: [...before.filter((t) => !removed.includes(t)), ...scheduled.values()],
      last
    }
    // Before the compare-and-set: the index entries of what it stores, and
    // the previous transition's history entry and processed key (it is
    // committed: writing them again is harmless).
    yield* Effect.all(
      [
        ...[...scheduled.values()].map((t) =>
          put(
            keys.timeout(c.saga, t.token),
            { saga: c.saga, id: c.id, token: t.token, dueAt: t.dueAt, at, after } satisfies TimeoutIndex
          )
        ),
        ...(pending.length > 0
          ? [put(keys.outgoing(c.saga, c.id, version), { saga: c.saga, id: c.id, version, at, after } satisfies OutgoingIndex)]
          : []),
        ...(doc === undefined ? [] : [
          put(keys.history(c.saga, c.id, doc.last.version), doc.last),
          put(keys.processed(c.saga, doc.last.trigger.messageId), done({ id: c.id, version: doc.last.version }, at))
        ])
      ],
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.onError(() => release))
    const key = keys.instance(c.saga, c.id)
    const value = JSON.stringify(next)
    const written = yield* (loaded === undefined
      ? conditional("create", () => kv.create(key, value))
      : conditional("update", () => kv.update(key, value, loaded.revision)))
    if (Option.isNone(written)) return yield* Effect.as(release, "conflict" as const)
    yield* afterwards(
      `instance ${c.saga} ${c.id} version ${version}: marking its trigger done and removing old timeout index entries`,
      Effect.all(
        [
          conditional(
            "mark trigger done",
            () => kv.update(claimKey, JSON.stringify(done({ id: c.id, version }, at)), claimed)
          ),
          ...removed.map((t) => purge(keys.timeout(c.saga, t.token)))
        ],
        { concurrency: "unbounded", discard: true }
      )
    )
    return "committed" as const
  })

  const processed = Effect.fn("SagaKv.processed")(function*(saga: string, messageId: string) {
    const entry = yield* get(keys.processed(saga, messageId))
    if (entry === null || entry.operation !== "PUT") return false
    const claim = asClaim(valueOf(entry))
    if (claim.state === "done") return true
    return (yield* judge(saga, messageId, claim, yield* Clock.currentTimeMillis)) === "applied"
  })

  const load = Effect.fn("SagaKv.load")(function*(saga: string, id: string) {
    const loaded = yield* loadDoc(saga, id)
    return loaded === undefined ? Option.none<SagaStore.Instance>() : Option.some(toInstance(loaded.doc))
  })

  const timeoutsOf = (d: Doc) =>
    Effect.forEach([...d.timeouts].sort(byDue), (t) => {
      const timeout = toTimeout(d, t)
      return timeout === undefined
        ? Effect.fail(corrupt(d.saga, d.id, `timeout ${t.name}: its message body is not base64`))
        : Effect.succeed(timeout)
    })

  const timeouts = Effect.fn("SagaKv.timeouts")(function*(saga: string, id: string) {
    const loaded = yield* loadDoc(saga, id)
    return loaded === undefined ? [] : yield* timeoutsOf(loaded.doc)
  })

  const checkLimit = (limit: number) =>
    Number.isSafeInteger(limit) && limit >= 0
      ? Effect.void
      : Effect.fail(SagaError.invalid(`limit must be a non-negative integer, got ${limit}`))

  /**
   * Whether an index entry whose document does not need it can go: the
   * document moved past the revision its commit read (that commit landed or
   * never will), or the entry is at least `grace` old.
   */
  const settled = (
    loaded: { readonly revision: number } | undefined,
    index: { readonly after: number; readonly at: number },
    clock: number
  ) => (loaded !== undefined && loaded.revision > index.after) || clock - index.at >= grace

  const skipCorrupt = (key: string) => Effect.logWarning(`saga: ${label}: ${key} does not parse; skipped`)

  const due = Effect.fn("SagaKv.due")(function*(now: number, limit: number, saga?: string) {
    yield* checkLimit(limit)
    if (limit === 0) return [] as ReadonlyArray<SagaStore.Timeout>
    const found = yield* scan(saga === undefined ? "t.>" : `t.${keyToken(saga)}.*`)
    const clock = yield* Clock.currentTimeMillis
    const candidates: Array<TimeoutIndex & { readonly key: string; readonly revision: number }> = []
    for (const { entry, key } of found) {
      const index = asTimeoutIndex(valueOf(entry))
      if (index === undefined) {
        yield* skipCorrupt(key)
        continue
      }
      if (index.dueAt <= now) candidates.push({ ...index, key, revision: entry.revision })
    }
    candidates.sort(byDue)
    const docs = new Map<string, { readonly doc: Doc; readonly revision: number } | "corrupt" | undefined>()
    const out: Array<SagaStore.Timeout> = []
    for (const candidate of candidates) {
      if (out.length >= limit) break
      const docKey = keys.instance(candidate.saga, candidate.id)
      if (!docs.has(docKey)) {
        const loaded = yield* Effect.catchIf(
          loadDoc(candidate.saga, candidate.id),
          (e) => e.reason._tag === "CorruptState",
          () => Effect.as(skipCorrupt(docKey), "corrupt" as const)
        )
        docs.set(docKey, loaded)
      }
      const loaded = docs.get(docKey)
      if (loaded === "corrupt") continue
      const stored = loaded?.doc.timeouts.find((t) => t.token === candidate.token)
      if (loaded !== undefined && stored !== undefined) {
        const timeout = toTimeout(loaded.doc, stored)
        if (timeout !== undefined) out.push(timeout)
        else yield* skipCorrupt(`${docKey} (timeout ${stored.name})`)
      } else if (settled(loaded, candidate, clock)) {
        // Left over by a commit that lost, or by a crash after a commit: not needed.
        yield* purge(candidate.key, candidate.revision)
      }
    }
    return out.sort(byDue) as ReadonlyArray<SagaStore.Timeout>
  })

  const scanDocs = (saga: string | undefined) =>
    Effect.flatMap(scan(saga === undefined ? "i.>" : `i.${keyToken(saga)}.*`), (found) =>
      Effect.map(
        Effect.forEach(found, ({ entry, key }) => {
          const doc = asDoc(valueOf(entry))
          return doc === undefined ? Effect.as(skipCorrupt(key), []) : Effect.succeed([{ doc, revision: entry.revision }])
        }),
        (docs) => docs.flat()
      ))

  const list = Effect.fn("SagaKv.list")(function*(query?: SagaStore.Query) {
    const limit = query?.limit ?? SagaStore.defaultLimit
    yield* checkLimit(limit)
    if (query?.status !== undefined && !isStatus(query.status)) {
      return yield* Effect.fail(SagaError.invalid(`unknown status ${JSON.stringify(query.status)}`))
    }
    const docs = yield* scanDocs(query?.saga)
    return docs
      .map(({ doc }) => toInstance(doc))
      .filter((i) =>
        (query?.saga === undefined || i.saga === query.saga) &&
        (query?.status === undefined || i.status === query.status)
      )
      .sort((a, b) =>
        a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) ||
        (a.saga < b.saga ? -1 : a.saga > b.saga ? 1 : 0)
      )
      .slice(0, limit) as ReadonlyArray<SagaStore.Instance>
  })

  const counts = Effect.fn("SagaKv.counts")(function*(saga?: string) {
    const tally = new Map<string, SagaStore.Count>()
    for (const { doc } of yield* scanDocs(saga)) {
      const i = toInstance(doc)
      if (saga !== undefined && i.saga !== saga) continue
      const key = `${i.saga}\u0000${i.status}`
      tally.set(key, { saga: i.saga, status: i.status, count: (tally.get(key)?.count ?? 0) + 1 })
    }
    return [...tally.values()].sort(SagaStore.countOrder) as ReadonlyArray<SagaStore.Count>
  })

  const historyPrefix = (saga: string, id: string) => `h.${keyToken(saga)}.${keyToken(id)}.*`

  const history = Effect.fn("SagaKv.history")(function*(saga: string, id: string) {
    const loaded = yield* loadDoc(saga, id)
    if (loaded === undefined) return [] as ReadonlyArray<SagaStore.HistoryEntry>
    const { doc } = loaded
    const entries = new Map<number, StoredHistory>()
    for (const { entry } of yield* scan(historyPrefix(saga, id))) {
      const h = valueOf(entry)
      // Only versions the document's instance went through: an entry of a
      // deleted instance of the same id, left by a crash, is not its own.
      if (isStoredHistory(h) && h.version < doc.version) entries.set(h.version, h)
    }
    entries.set(doc.last.version, doc.last)
    return [...entries.values()].sort((a, b) => a.version - b.version).map((h) => toHistory(doc, h))
  })

  /**
   * Removes appended messages (by message id) from an instance's document;
   * `false` when every compare-and-set was refused (it kept changing).
   */
  const removeSent = (saga: string, id: string, sent: ReadonlySet<string>) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 20; attempt++) {
        const loaded = yield* loadDoc(saga, id)
        if (loaded === undefined) return true
        const rest = loaded.doc.pending.filter((p) => !sent.has(p.messageId))
        if (rest.length === loaded.doc.pending.length) return true
        const updated = yield* conditional(
          "remove appended messages",
          () => kv.update(keys.instance(saga, id), JSON.stringify({ ...loaded.doc, pending: rest }), loaded.revision)
        )
        if (Option.isSome(updated)) return true
      }
      return false
    })

  /**
   * Appends the messages of one `o.` entry's transition (and any older ones
   * still waiting in the document), then removes them from the document and
   * the entry from the bucket.
   */
  const flushOne = (marker: OutgoingIndex, revision: number) =>
    Effect.gen(function*() {
      const markerKey = keys.outgoing(marker.saga, marker.id, marker.version)
      const loaded = yield* loadDoc(marker.saga, marker.id)
      const due = loaded?.doc.pending.filter((p) => p.version <= marker.version) ?? []
      if (loaded === undefined || due.length === 0) {
        // Appended by an earlier flush, or the transition never landed.
        if (settled(loaded, marker, yield* Clock.currentTimeMillis)) yield* purge(markerKey, revision)
        return { appended: 0, failure: undefined }
      }
      const { doc } = loaded
      const sent = new Set<string>()
      let failure: SagaError.SagaError | undefined
      for (const p of due) {
        const body = bodyOf(p.body)
        if (body === undefined) {
          failure = corrupt(doc.saga, doc.id, `outgoing message ${p.messageId}: its body is not base64`)
          break
        }
        const error = yield* log.appendRaw(p.subject, { headers: p.headers, body }).pipe(
          Effect.as(undefined),
          Effect.catch((e) => Effect.succeed(SagaError.store(`flush ${p.messageId} to ${p.subject}`, e)))
        )
        if (error !== undefined) {
          failure = error
          break
        }
        sent.add(p.messageId)
      }
      if (sent.size > 0 && !(yield* removeSent(doc.saga, doc.id, sent))) {
        yield* Effect.logWarning(
          `saga: ${label}: instance ${doc.saga} ${doc.id}: appended messages could not be removed from its document (it kept changing); the next flush appends them again, deduplicated by their message ids`
        )
      } else if (failure === undefined) {
        // Its transition landed and its messages are gone from the document.
        yield* purge(markerKey, revision)
      }
      return { appended: sent.size, failure }
    })

  const flushLock = yield* Semaphore.make(1)

  const flush: Effect.Effect<number, SagaError.SagaError> = flushLock.withPermits(1)(
    Effect.gen(function*() {
      // In the order the transitions wrote their entries: commit order.
      const markers = (yield* scan("o.>")).sort((a, b) => a.entry.revision - b.entry.revision)
      let appended = 0
      let first: SagaError.SagaError | undefined
      // An instance whose message failed: its later messages wait behind it.
      const held = new Set<string>()
      for (const { entry, key } of markers) {
        const marker = asOutgoingIndex(valueOf(entry))
        if (marker === undefined) {
          yield* skipCorrupt(key)
          continue
        }
        const instance = keys.instance(marker.saga, marker.id)
        if (held.has(instance)) continue
        const result = yield* Effect.catchIf(
          flushOne(marker, entry.revision),
          (e) => e.reason._tag === "CorruptState",
          (e) => Effect.succeed({ appended: 0, failure: e })
        )
        appended += result.appended
        if (result.failure !== undefined) {
          held.add(instance)
          first ??= result.failure
        }
      }
      return first === undefined ? appended : yield* Effect.fail(first)
    })
  )

  const deleteFinished = Effect.fn("SagaKv.deleteFinished")(function*(before: number) {
    let n = 0
    const deleted = new Map<string, Set<string>>()
    for (const { doc, revision } of yield* scanDocs(undefined)) {
      if (!SagaStore.isFinal(doc.status) || doc.updatedAt >= before || doc.pending.length > 0) continue
      // The last trigger's `p.` key may still be a claim (a crash before it
      // was marked done): once the document is gone, nothing could confirm it.
      yield* put(
        keys.processed(doc.saga, doc.last.trigger.messageId),
        done({ id: doc.id, version: doc.last.version }, yield* Clock.currentTimeMillis)
      )
      if (!(yield* purge(keys.instance(doc.saga, doc.id), revision))) continue
      n++
      const history = yield* scan(historyPrefix(doc.saga, doc.id))
      const markers = yield* scan(`o.${keyToken(doc.saga)}.${keyToken(doc.id)}.*`)
      yield* Effect.all(
        [
          ...history.map(({ key }) => purge(key)),
          ...markers.map(({ key }) => purge(key)),
          ...doc.timeouts.map((t) => purge(keys.timeout(doc.saga, t.token)))
        ],
        { concurrency: 16, discard: true }
      )
      const ids = deleted.get(doc.saga) ?? new Set<string>()
      ids.add(doc.id)
      deleted.set(doc.saga, ids)
    }
    // The processed messages of the deleted instances: their `p.` keys name the instance.
    for (const [saga, ids] of deleted) {
      const claims = yield* scan(`p.${keyToken(saga)}.*`)
      yield* Effect.all(
        claims.filter(({ entry }) => {
          const value = valueOf(entry)
          return Predicate.hasProperty(value, "id") && isString(value.id) && ids.has(value.id)
        }).map(({ key }) => purge(key)),
        { concurrency: 16, discard: true }
      )
    }
    return n
  })

  return SagaStore.SagaStore.of({
    kind: "kv",
    load,
    processed,
    commit,
    due,
    timeouts,
    list,
    counts,
    history,
    flush,
    deleteFinished
  })
})

/**
 * The KV store as a layer over a `NatsConnection` and an `EventLog`
 * (`NatsTransport.layer` provides both).
 *
 * ```ts
 * const sagas = SagaKv.layer({ bucket: "billing_sagas" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SagaStore.SagaStore, SagaError.SagaError, NatsConnection.NatsConnection | EventLog.EventLog> =>
  Layer.effect(SagaStore.SagaStore, make(options))
