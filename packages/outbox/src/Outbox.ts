/**
 * The transactional outbox: `publish` writes a message into the outbox in the
 * caller's transaction; an `OutboxRelay` appends it to the `EventLog` after
 * the commit.
 *
 * ```ts
 * const placeOrder = (order: Order) =>
 *   Effect.gen(function*() {
 *     const sql = yield* SqlClient.SqlClient
 *     yield* sql.withTransaction(Effect.gen(function*() {
 *       yield* sql`INSERT INTO orders ${sql.insert(order)}`
 *       yield* Outbox.publish("shop.orders.placed", envelope, { partitionKey: order.id })
 *     }))
 *   })
 * ```
 *
 * The message is stored in its wire form (`Wire.encode`: headers with
 * `Nats-Msg-Id` = the message id, and the body bytes), so the relay appends
 * exactly what was published. A rolled-back transaction leaves no message; a
 * committed one is published by a relay, at least once, and exactly once
 * downstream as long as every retry falls inside the stream's duplicate
 * window (see the README).
 *
 * Messages that share a `partitionKey` are published in the order they were
 * written: a later one is never appended before an earlier one succeeded.
 * Messages without a key are published as fast as possible, in no
 * particular order.
 *
 * Tracing: the W3C trace context of the current span (`traceparent`,
 * `tracestate`; see `TraceContext` in `@herald/transport`) is stored with
 * each message that does not carry a `traceparent` of its own, so the
 * relay's append continues the trace of the transaction that wrote it: the
 * consumer's span is a child of the `Outbox.publish` span, inside the
 * transaction's span, however long the message waited.
 *
 * @since 0.1.0
 */
import { Subject } from "@herald/subject"
import { Envelope, TraceContext, Wire } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Headers from "./internal/headers.ts"
import * as OutboxError from "./OutboxError.ts"
import * as OutboxStore from "./OutboxStore.ts"

/**
 * Options of `publish`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PublishOptions {
  /**
   * Messages with the same key are published in the order they were written
   * (for instance an aggregate id). Default: none, no ordering.
   */
  readonly partitionKey?: string | undefined
}

/**
 * One message of `publishAll`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Publication extends PublishOptions {
  readonly subject: string
  readonly envelope: Envelope.Envelope
}

/**
 * The outbox.
 *
 * @since 0.1.0
 * @category services
 */
export class Outbox extends Context.Service<Outbox, {
  /** Writes one message in the caller's transaction. */
  readonly publish: (
    subject: string,
    envelope: Envelope.Envelope,
    options?: PublishOptions
  ) => Effect.Effect<void, OutboxError.OutboxError>
  /** Writes messages in the caller's transaction, in one statement; in order for a shared key. */
  readonly publishAll: (messages: ReadonlyArray<Publication>) => Effect.Effect<void, OutboxError.OutboxError>
  /** Pending count, oldest pending age, attempts, the last error. */
  readonly status: Effect.Effect<OutboxStore.Status, OutboxError.OutboxError>
  /** Unsent messages that failed at least once, the most recent failure first (default limit 100). */
  readonly failures: (limit?: number) => Effect.Effect<ReadonlyArray<OutboxStore.FailedMessage>, OutboxError.OutboxError>
  /** Puts parked messages (all, or those with these message ids) back in line; answers how many. */
  readonly requeue: (messageIds?: ReadonlyArray<string>) => Effect.Effect<number, OutboxError.OutboxError>
}>()("@herald/outbox/Outbox") {}

const invalidInput = (field: string, detail: string) =>
  Result.fail(OutboxError.make(new OutboxError.InvalidInput({ field, detail })))

/** The first C0 control character (U+0000–U+001F) or DEL, or -1. */
const controlAt = (s: string): number => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return i
  }
  return -1
}

const typeOf = (u: unknown): string => u === null ? "null" : Array.isArray(u) ? "an array" : typeof u

/**
 * Checks and encodes one message. `at` prefixes the field names of errors
 * (`messages[2].` in `publishAll`). Never throws, whatever the arguments.
 */
const encode = (
  subject: unknown,
  envelope: unknown,
  options: unknown,
  createdAt: number,
  at: string,
  trace: Readonly<Record<string, string>>
): Result.Result<OutboxStore.NewMessage, OutboxError.OutboxError> => {
  if (typeof subject !== "string") return invalidInput(`${at}subject`, `must be a string, got ${typeOf(subject)}`)
  const valid = Subject.make(subject)
  if (Result.isFailure(valid)) {
    return Result.fail(
      OutboxError.make(new OutboxError.InvalidSubject({ subject, detail: valid.failure.message, cause: valid.failure }))
    )
  }
  const control = controlAt(subject)
  if (control !== -1) {
    return Result.fail(
      OutboxError.make(
        new OutboxError.InvalidSubject({
          subject,
          detail: `control character U+${subject.charCodeAt(control).toString(16).toUpperCase().padStart(4, "0")} at ${control}`
        })
      )
    )
  }
  const checked = Envelope.validate(envelope)
  if (Result.isFailure(checked)) {
    const reason = checked.failure.reason
    return invalidInput(
      reason._tag === "InvalidEnvelope" ? `${at}envelope${reason.field === "envelope" ? "" : `.${reason.field}`}` : `${at}envelope`,
      reason._tag === "InvalidEnvelope" ? reason.detail : reason.message
    )
  }
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
    return invalidInput(at === "" ? "options" : `${at.slice(0, -1)}`, `must be an object, got ${typeOf(options)}`)
  }
  const partitionKey = (options as PublishOptions | undefined)?.partitionKey
  if (partitionKey !== undefined) {
    if (typeof partitionKey !== "string") {
      return invalidInput(`${at}partitionKey`, `must be a string, got ${typeOf(partitionKey)}`)
    }
    if (partitionKey.length === 0) return invalidInput(`${at}partitionKey`, "must not be empty")
    const bad = controlAt(partitionKey)
    if (bad !== -1) {
      return invalidInput(
        `${at}partitionKey`,
        `control character U+${partitionKey.charCodeAt(bad).toString(16).toUpperCase().padStart(4, "0")} at ${bad}`
      )
    }
  }
  const raw = Wire.encode(TraceContext.withContext(checked.success, trace))
  if (Result.isFailure(raw)) {
    return Result.fail(
      OutboxError.make(new OutboxError.EncodeError({ detail: raw.failure.message, cause: raw.failure }))
    )
  }
  for (const name in raw.success.headers) {
    if (!Headers.isStorable(raw.success.headers[name]!)) {
      return Result.fail(
        OutboxError.make(new OutboxError.EncodeError({ detail: `header ${name}: value contains CR or LF` }))
      )
    }
  }
  return Result.succeed({
    messageId: checked.success.identity.messageId,
    subject,
    raw: raw.success,
    partitionKey,
    createdAt
  })
}

/**
 * Builds the outbox over the `OutboxStore` of the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Outbox["Service"], never, OutboxStore.OutboxStore> = Effect.gen(function*() {
  const store = yield* OutboxStore.OutboxStore
  return Outbox.of({
    publish: Effect.fn("Outbox.publish")(
      function*(subject: string, envelope: Envelope.Envelope, options?: PublishOptions) {
        const now = yield* Clock.currentTimeMillis
        const trace = yield* TraceContext.headers
        const message = yield* Effect.fromResult(encode(subject, envelope, options, now, "", trace))
        yield* store.insert([message])
      }
    ),
    publishAll: Effect.fn("Outbox.publishAll")(function*(messages: ReadonlyArray<Publication>) {
      if (!Array.isArray(messages)) {
        return yield* Effect.fromResult(invalidInput("messages", `must be an array, got ${typeOf(messages)}`))
      }
      if (messages.length === 0) return
      const now = yield* Clock.currentTimeMillis
      const trace = yield* TraceContext.headers
      const encoded: Array<OutboxStore.NewMessage> = []
      for (let i = 0; i < messages.length; i++) {
        const m: unknown = messages[i]
        if (typeof m !== "object" || m === null || Array.isArray(m)) {
          return yield* Effect.fromResult(invalidInput(`messages[${i}]`, `must be an object, got ${typeOf(m)}`))
        }
        const p = m as Partial<Publication>
        encoded.push(yield* Effect.fromResult(encode(p.subject, p.envelope, m, now, `messages[${i}].`, trace)))
      }
      yield* store.insert(encoded)
    }),
    status: Effect.flatMap(Clock.currentTimeMillis, store.status),
    failures: (limit = 100) => store.failures(limit),
    requeue: (messageIds) => Effect.flatMap(Clock.currentTimeMillis, (now) => store.requeue(now, messageIds))
  })
})

/**
 * The outbox as a layer, over the `OutboxStore` of the context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Outbox, never, OutboxStore.OutboxStore> = Layer.effect(Outbox, make)

/**
 * Writes one message into the outbox, in the caller's transaction.
 *
 * @since 0.1.0
 * @category accessors
 */
export const publish = (
  subject: string,
  envelope: Envelope.Envelope,
  options?: PublishOptions
): Effect.Effect<void, OutboxError.OutboxError, Outbox> => Outbox.use((outbox) => outbox.publish(subject, envelope, options))

/**
 * Writes messages into the outbox, in the caller's transaction.
 *
 * @since 0.1.0
 * @category accessors
 */
export const publishAll = (
  messages: ReadonlyArray<Publication>
): Effect.Effect<void, OutboxError.OutboxError, Outbox> => Outbox.use((outbox) => outbox.publishAll(messages))

/**
 * The outbox's state: pending count, oldest pending age, attempts, last error.
 *
 * @since 0.1.0
 * @category accessors
 */
export const status: Effect.Effect<OutboxStore.Status, OutboxError.OutboxError, Outbox> = Outbox.use((outbox) =>
  outbox.status
)

/**
 * Unsent messages that failed at least once, the most recent failure first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const failures = (
  limit?: number
): Effect.Effect<ReadonlyArray<OutboxStore.FailedMessage>, OutboxError.OutboxError, Outbox> =>
  Outbox.use((outbox) => outbox.failures(limit))

/**
 * Puts parked messages back in line.
 *
 * @since 0.1.0
 * @category accessors
 */
export const requeue = (
  messageIds?: ReadonlyArray<string>
): Effect.Effect<number, OutboxError.OutboxError, Outbox> => Outbox.use((outbox) => outbox.requeue(messageIds))
