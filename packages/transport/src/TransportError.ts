/**
 * The one error of `@herald/transport` and of every transport adapter.
 *
 * A `TransportError` carries a `reason`: one of the tagged reasons below, each
 * with a readable `message`, the original `cause` where there is one, and an
 * `isRetryable` flag that says whether trying the same operation again may
 * succeed. Callers handle reasons with `Effect.catchReason`, or retry with
 * `Effect.retry({ while: (e) => e.isRetryable })`.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { quote } from "./internal/quote.ts"

const TypeId = "~@herald/transport/TransportError" as const
const ReasonTypeId = "~@herald/transport/TransportError/Reason" as const

const base = {
  cause: Schema.optional(Schema.Defect())
}

/**
 * A header or body could not be decoded: a missing or malformed identity
 * header, an unknown kind, a body that does not match its Schema. Never
 * retryable: the same bytes decode the same way next time.
 *
 * @since 0.1.0
 * @category reasons
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@herald/transport/DecodeError")("DecodeError", {
  ...base,
  detail: Schema.String,
  header: Schema.optional(Schema.String)
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.header === undefined ? `cannot decode: ${this.detail}` : `cannot decode header ${this.header}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A value given as an envelope is not one: `field` names what is wrong
 * (`identity.messageId`, `body`, `headers.x-trace`, or `envelope` when the
 * value is not an object at all). Never retryable.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidEnvelope extends Schema.TaggedError<InvalidEnvelope>("@herald/transport/InvalidEnvelope")(
  "InvalidEnvelope",
  { ...base, field: Schema.String, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid envelope: ${this.field}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A payload could not be encoded with its Schema or codec.
 *
 * @since 0.1.0
 * @category reasons
 */
export class EncodeError extends Schema.TaggedError<EncodeError>("@herald/transport/EncodeError")("EncodeError", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `cannot encode: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The connection failed, was lost, or could not be made.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>("@herald/transport/ConnectionError")(
  "ConnectionError",
  { ...base, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `connection: ${this.detail}`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The server refused the credentials.
 *
 * @since 0.1.0
 * @category reasons
 */
export class AuthorizationError extends Schema.TaggedError<AuthorizationError>(
  "@herald/transport/AuthorizationError"
)("AuthorizationError", { ...base, detail: Schema.String }) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `not authorized: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The server's permissions forbid this connection to publish to, or
 * subscribe to, a subject. Never retryable: the same credentials are refused
 * the same way until the server's permissions change.
 *
 * @since 0.1.0
 * @category reasons
 */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>("@herald/transport/PermissionDenied")(
  "PermissionDenied",
  { ...base, operation: Schema.Literals(["publish", "subscribe"]), subject: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `permission denied: ${this.operation} to ${this.subject}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An operation did not complete within its deadline.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Timeout extends Schema.TaggedError<Timeout>("@herald/transport/Timeout")("Timeout", {
  ...base,
  operation: Schema.String,
  millis: Schema.Number
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `${this.operation} timed out after ${this.millis} ms`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A request found nobody serving its subject.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NoResponders extends Schema.TaggedError<NoResponders>("@herald/transport/NoResponders")("NoResponders", {
  ...base,
  subject: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `no responders on ${this.subject}`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A responder failed to handle a request and answered with an error.
 *
 * @since 0.1.0
 * @category reasons
 */
export class RemoteError extends Schema.TaggedError<RemoteError>("@herald/transport/RemoteError")("RemoteError", {
  ...base,
  subject: Schema.String,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `responder on ${this.subject} failed: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A subject or subject pattern broke NATS's rules.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidSubject extends Schema.TaggedError<InvalidSubject>("@herald/transport/InvalidSubject")(
  "InvalidSubject",
  { ...base, subject: Schema.String, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid subject ${quote(this.subject)}: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * No stream has that name.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StreamNotFound extends Schema.TaggedError<StreamNotFound>("@herald/transport/StreamNotFound")(
  "StreamNotFound",
  { ...base, stream: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `stream ${this.stream} not found`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The stream has no consumer of that name.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ConsumerNotFound extends Schema.TaggedError<ConsumerNotFound>("@herald/transport/ConsumerNotFound")(
  "ConsumerNotFound",
  { ...base, stream: Schema.String, consumer: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `consumer ${this.consumer} not found on stream ${this.stream}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An append named a subject that no stream captures.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NoStreamForSubject extends Schema.TaggedError<NoStreamForSubject>(
  "@herald/transport/NoStreamForSubject"
)("NoStreamForSubject", { ...base, subject: Schema.String }) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `no stream captures subject ${this.subject}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An append's optimistic-concurrency check failed: the stream (or the subject)
 * was not at the expected last sequence.
 *
 * @since 0.1.0
 * @category reasons
 */
export class WrongLastSequence extends Schema.TaggedError<WrongLastSequence>("@herald/transport/WrongLastSequence")(
  "WrongLastSequence",
  {
    ...base,
    stream: Schema.String,
    expected: Schema.Number,
    actual: Schema.optional(Schema.Number),
    scope: Schema.Literals(["stream", "subject"])
  }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    const actual = this.actual === undefined ? "" : `, it is ${this.actual}`
    return `stream ${this.stream}: expected last ${this.scope} sequence ${this.expected}${actual}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An append expected its subject to be captured by one stream
 * (`expectedStream`), and another stream captures it.
 *
 * @since 0.1.0
 * @category reasons
 */
export class WrongStream extends Schema.TaggedError<WrongStream>("@herald/transport/WrongStream")("WrongStream", {
  ...base,
  subject: Schema.String,
  expected: Schema.String,
  actual: Schema.optional(Schema.String)
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    const actual = this.actual === undefined ? "" : `, it is captured by ${this.actual}`
    return `subject ${this.subject} was expected in stream ${this.expected}${actual}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A message is larger than the server or the stream accepts.
 *
 * @since 0.1.0
 * @category reasons
 */
export class MessageTooLarge extends Schema.TaggedError<MessageTooLarge>("@herald/transport/MessageTooLarge")(
  "MessageTooLarge",
  { ...base, size: Schema.Number, max: Schema.Number }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `message of ${this.size} bytes exceeds the maximum of ${this.max} bytes`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A stream with `discard: "new"` is full: the append was refused.
 *
 * @since 0.1.0
 * @category reasons
 */
export class LimitExceeded extends Schema.TaggedError<LimitExceeded>("@herald/transport/LimitExceeded")(
  "LimitExceeded",
  { ...base, stream: Schema.String, limit: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `stream ${this.stream} is full (${this.limit})`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A configuration is invalid: a wrong option, a bad value, a limit out of range.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@herald/transport/InvalidConfig")(
  "InvalidConfig",
  { ...base, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `invalid configuration: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A feature the server does not support (it would be silently ignored).
 *
 * @since 0.1.0
 * @category reasons
 */
export class Unsupported extends Schema.TaggedError<Unsupported>("@herald/transport/Unsupported")("Unsupported", {
  ...base,
  feature: Schema.String,
  requires: Schema.String,
  server: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `${this.feature} requires server ${this.requires}, the server is ${this.server}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Declared topology conflicts with itself or with the server: overlapping
 * subjects, or a change the server refuses.
 *
 * @since 0.1.0
 * @category reasons
 */
export class TopologyConflict extends Schema.TaggedError<TopologyConflict>("@herald/transport/TopologyConflict")(
  "TopologyConflict",
  { ...base, detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `topology conflict: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A circuit breaker is open: calls are refused until it half-opens.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>("@herald/transport/CircuitOpen")("CircuitOpen", {
  ...base,
  name: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `circuit ${this.name} is open`
  }
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A handler failed. `retryable` records how the failure was classified.
 *
 * @since 0.1.0
 * @category reasons
 */
export class HandlerFailed extends Schema.TaggedError<HandlerFailed>("@herald/transport/HandlerFailed")(
  "HandlerFailed",
  { ...base, detail: Schema.String, retryable: Schema.Boolean }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `handler failed: ${this.detail}`
  }
  get isRetryable(): boolean {
    return this.retryable
  }
}

/**
 * The transport, subscription or consumer is closed.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Closed extends Schema.TaggedError<Closed>("@herald/transport/Closed")("Closed", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `closed: ${this.detail}`
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Anything else the server or client reported.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Unknown extends Schema.TaggedError<Unknown>("@herald/transport/Unknown")("Unknown", {
  ...base,
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The union of reasons.
 *
 * @since 0.1.0
 * @category models
 */
export type TransportErrorReason =
  | DecodeError
  | EncodeError
  | InvalidEnvelope
  | ConnectionError
  | AuthorizationError
  | PermissionDenied
  | Timeout
  | NoResponders
  | RemoteError
  | InvalidSubject
  | StreamNotFound
  | ConsumerNotFound
  | NoStreamForSubject
  | WrongLastSequence
  | WrongStream
  | MessageTooLarge
  | LimitExceeded
  | InvalidConfig
  | Unsupported
  | TopologyConflict
  | CircuitOpen
  | HandlerFailed
  | Closed
  | Unknown

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TransportErrorReason = Schema.Union([
  DecodeError,
  EncodeError,
  InvalidEnvelope,
  ConnectionError,
  AuthorizationError,
  PermissionDenied,
  Timeout,
  NoResponders,
  RemoteError,
  InvalidSubject,
  StreamNotFound,
  ConsumerNotFound,
  NoStreamForSubject,
  WrongLastSequence,
  WrongStream,
  MessageTooLarge,
  LimitExceeded,
  InvalidConfig,
  Unsupported,
  TopologyConflict,
  CircuitOpen,
  HandlerFailed,
  Closed,
  Unknown
])

/**
 * The error of every transport operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@herald/transport/TransportError")(
  "TransportError",
  { reason: TransportErrorReason }
) {
  readonly [TypeId] = TypeId
  override readonly cause = this.reason
  override get message(): string {
    return this.reason.message
  }
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/**
 * Wraps a reason in a `TransportError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: TransportErrorReason): TransportError => new TransportError({ reason })

/**
 * Returns `true` when a value is a `TransportError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransportError = (u: unknown): u is TransportError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `TransportErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransportErrorReason = (u: unknown): u is TransportErrorReason => Predicate.hasProperty(u, ReasonTypeId)

/**
 * Whether a failure is worth retrying: a value with a boolean `isRetryable`
 * (every Herald error, `SqlError`) answers for itself; anything else is
 * treated as retryable, since a handler's unknown failure is most often
 * transient.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (u: unknown): boolean =>
  Predicate.hasProperty(u, "isRetryable") && typeof u.isRetryable === "boolean" ? u.isRetryable : true

/**
 * A readable one-line description of any failure value.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (u: unknown): string => {
  if (Predicate.hasProperty(u, "_tag") && Predicate.hasProperty(u, "message") && typeof u.message === "string") {
    return u.message.length > 0 ? `${String(u._tag)}: ${u.message}` : String(u._tag)
  }
  if (u instanceof Error) return u.message.length > 0 ? u.message : u.name
  if (typeof u === "string") return u
  return String(u)
}
