/**
 * Messages from services that do not speak Herald, and header profiles for
 * talking to them.
 *
 * By default a message without Herald's headers is not a valid envelope: a
 * subscription hands it to `onInvalid`, a consumer dead-letters it, a request
 * fails with `DecodeError`. A subscription, `serve`, `request` or consumer
 * that opts in with `foreign` accepts such a message instead: its identity is
 * synthesized from the headers a {@link HeaderProfile} names, and the body is
 * kept as it came, for the `Message` definition's Schema to decode.
 *
 * | what | from (first present) | else |
 * |---|---|---|
 * | message id | the profile's id headers, then `Nats-Msg-Id` | a stable id of the delivery (`<stream>:<sequence>`) on JetStream, a fresh UUID on core NATS |
 * | correlation id | the profile's correlation header | the request's correlation id (a reply), else the message id (a new root) |
 * | causation id | the profile's causation header | the request's message id (a reply), else the message id (a new root) |
 * | type | the `as` definition's type, then the profile's type header | the subject |
 * | kind | the `as` definition's kind | `event` (subscribe, consume), `query` (serve), `reply` (request) |
 * | time | the profile's time header (ISO-8601 or epoch milliseconds) | the time of receipt |
 *
 * A message that carries `Herald-Message-Id` is a Herald message and is
 * decoded by Herald's rules, valid or not: opting in never launders a
 * malformed Herald message. A foreign header that names an id but holds an
 * invalid one is a `DecodeError` naming that header.
 *
 * Writing: {@link stamp} adds a profile's headers to an envelope (beside
 * Herald's own, which every Herald message keeps), so a service that reads
 * the `X-*` convention follows a Herald flow.
 *
 * @since 0.1.0
 */
import { Ids, MessageIdentity } from "@herald/identity"
import * as Result from "effect/Result"
import * as Envelope from "./Envelope.ts"
import { quote } from "./internal/quote.ts"
import * as TransportError from "./TransportError.ts"
import * as Wire from "./Wire.ts"

/**
 * Which headers carry identity and metadata, for reading foreign messages and
 * for writing headers that other services read.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeaderProfile {
  readonly name: string
  /** Headers holding the message id, tried in order (before `Nats-Msg-Id`). */
  readonly messageId: ReadonlyArray<string>
  readonly correlationId: ReadonlyArray<string>
  readonly causationId: ReadonlyArray<string>
  /** Headers holding the message type. */
  readonly type: ReadonlyArray<string>
  /** Headers holding the time of occurrence (ISO-8601 or epoch milliseconds). */
  readonly occurredAt: ReadonlyArray<string>
  /** The headers this profile adds to an outgoing envelope (none for Herald's own). */
  readonly write: (envelope: Envelope.Envelope) => Readonly<Record<string, string>>
}

/**
 * Herald's own headers: nothing more is written; a foreign message's id is
 * read from `Nats-Msg-Id`.
 *
 * @since 0.1.0
 * @category profiles
 */
export const herald: HeaderProfile = {
  name: "herald",
  messageId: [],
  correlationId: [],
  causationId: [],
  type: [],
  occurredAt: [],
  write: () => ({})
}

/**
 * Header names of the `X-*` convention.
 *
 * @since 0.1.0
 * @category constants
 */
export const CimHeaders = {
  messageId: "X-Message-ID",
  correlationId: "X-Correlation-ID",
  causationId: "X-Causation-ID",
  eventId: "X-Event-ID",
  eventType: "X-Event-Type",
  aggregateId: "X-Aggregate-ID",
  timestamp: "X-Timestamp",
  domain: "X-Domain"
} as const

/**
 * The `X-*` convention: `X-Message-ID`, `X-Correlation-ID`, `X-Causation-ID`,
 * and for events `X-Event-ID`, `X-Event-Type`, `X-Timestamp`, with
 * `X-Aggregate-ID` and `X-Domain` carried as they are. Writing adds the
 * identity headers to every message and the event headers to events
 * (`X-Aggregate-ID` and `X-Domain` when the envelope's headers hold them).
 *
 * @since 0.1.0
 * @category profiles
 */
export const cim: HeaderProfile = {
  name: "cim",
  messageId: [CimHeaders.messageId, CimHeaders.eventId],
  correlationId: [CimHeaders.correlationId],
  causationId: [CimHeaders.causationId],
  type: [CimHeaders.eventType],
  occurredAt: [CimHeaders.timestamp],
  write: (envelope) => {
    const id = envelope.identity
    const headers: Record<string, string> = {
      [CimHeaders.messageId]: id.messageId,
      [CimHeaders.correlationId]: id.correlationId,
      [CimHeaders.causationId]: id.causationId
    }
    if (envelope.kind === "event") {
      headers[CimHeaders.eventId] = id.messageId
      headers[CimHeaders.eventType] = envelope.type
      headers[CimHeaders.timestamp] = new Date(envelope.occurredAt).toISOString()
    }
    return headers
  }
}

/**
 * The opt-in: how to read a message without Herald's headers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Which headers to read identity and metadata from (default {@link herald}: `Nats-Msg-Id` only). */
  readonly profile?: HeaderProfile | undefined
  /**
   * What arrives here: a `Message` definition (or its `type` and `kind`).
   * Its type and kind are given to every foreign message, so the
   * definition's `decode` accepts them.
   */
  readonly as?: { readonly type: string; readonly kind: Envelope.Kind } | undefined
}

/**
 * Where a foreign message was received, for what cannot come from its headers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly subject: string
  /** The kind when `as` gives none. */
  readonly kind: Envelope.Kind
  /** The message id when no header gives one. */
  readonly fallbackId: () => string
  /** Receipt time, Unix epoch milliseconds. */
  readonly now: number
  /** The request a reply answers: the reply joins its flow. */
  readonly inReplyTo?: MessageIdentity.MessageIdentity | undefined
}

const decodeError = (detail: string, header?: string): TransportError.TransportError =>
  TransportError.make(
    header === undefined
      ? new TransportError.DecodeError({ detail })
      : new TransportError.DecodeError({ detail, header })
  )

const first = (
  lookup: (name: string) => string | undefined,
  names: ReadonlyArray<string>
): { readonly name: string; readonly value: string } | undefined => {
  for (const name of names) {
    const value = lookup(name)
    if (value !== undefined && value !== "") return { name, value }
  }
  return undefined
}


const parseTime = (text: string): number => {
  if (/^\d{1,16}$/.test(text)) return Number(text)
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) return Date.parse(text)
  return Number.NaN
}

const id = (
  found: { readonly name: string; readonly value: string } | undefined
): Result.Result<string | undefined, TransportError.TransportError> => {
  if (found === undefined) return Result.succeed(undefined)
  const problem = Ids.idProblem(found.value)
  return problem === undefined
    ? Result.succeed(found.value)
    : Result.fail(decodeError(`${quote(found.value)} is not a message id: ${problem}`, found.name))
}

const natsMsgId = "Nats-Msg-Id"
const heraldMessageId = MessageIdentity.HeaderNames.messageId

/**
 * Returns `true` when a message carries Herald's identity header, and so is
 * decoded by Herald's rules whatever `foreign` says.
 *
 * @since 0.1.0
 * @category guards
 */
export const isHerald = (lookup: (name: string) => string | undefined): boolean => {
  const value = lookup(heraldMessageId)
  return value !== undefined && value !== ""
}

/**
 * Synthesizes an envelope for a message without Herald's headers. `names`
 * lists the headers present: every one is carried as an extra header.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (
  lookup: (name: string) => string | undefined,
  names: Iterable<string>,
  body: Uint8Array,
  options: Options,
  context: Context
): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  const profile = options.profile ?? herald
  const messageId = id(first(lookup, [...profile.messageId, natsMsgId]))
  if (Result.isFailure(messageId)) return Result.fail(messageId.failure)
  const correlationId = id(first(lookup, profile.correlationId))
  if (Result.isFailure(correlationId)) return Result.fail(correlationId.failure)
  const causationId = id(first(lookup, profile.causationId))
  if (Result.isFailure(causationId)) return Result.fail(causationId.failure)

  const self = messageId.success ?? context.fallbackId()
  const parent = context.inReplyTo
  const made = MessageIdentity.make({
    messageId: self,
    correlationId: correlationId.success ?? parent?.correlationId ?? self,
    causationId: causationId.success ?? parent?.messageId ?? self
  })
  if (Result.isFailure(made)) return Result.fail(decodeError(`synthesized identity: ${made.failure.message}`))
  const identity = made.success

  const typeHeader = first(lookup, profile.type)
  const type = options.as?.type ?? typeHeader?.value ?? context.subject
  if (type.includes("\r") || type.includes("\n")) {
    return Result.fail(decodeError(`type ${quote(type)} contains CR or LF`, typeHeader?.name))
  }
  const kind = options.as?.kind ?? context.kind

  let occurredAt = context.now
  const time = first(lookup, profile.occurredAt)
  if (time !== undefined) {
    occurredAt = parseTime(time.value)
    if (!Number.isFinite(occurredAt)) {
      return Result.fail(decodeError(`${quote(time.value)} is not an ISO-8601 time or epoch milliseconds`, time.name))
    }
  }

  const contentType = lookup("Content-Type")
  const headers: Record<string, string> = {}
  for (const name of names) {
    if (name === natsMsgId || name.toLowerCase() === "content-type") continue
    const value = lookup(name)
    if (value !== undefined) headers[name] = value
  }
  return Result.succeed({
    identity,
    type,
    kind,
    occurredAt,
    contentType: contentType === undefined || contentType === "" ? "application/json" : contentType,
    headers,
    body
  })
}

/**
 * A copy of the envelope with the profile's headers added (over extra
 * headers of the same names), for the services that read that profile.
 * Herald's own headers are always written too.
 *
 * @since 0.1.0
 * @category writing
 */
export const stamp = (envelope: Envelope.Envelope, profile: HeaderProfile): Envelope.Envelope => {
  const headers = profile.write(envelope)
  return Object.keys(headers).length === 0 ? envelope : Envelope.withHeaders(envelope, headers)
}

/**
 * Decodes a received message: by Herald's rules when it carries Herald's
 * identity or when `foreign` is not given; otherwise as a foreign message.
 * `context` is evaluated only for a foreign message.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeReceived = (
  lookup: (name: string) => string | undefined,
  names: Iterable<string>,
  body: Uint8Array,
  foreign: Options | undefined,
  context: () => Context
): Result.Result<Envelope.Envelope, TransportError.TransportError> =>
  foreign === undefined || isHerald(lookup)
    ? Wire.decode(lookup, names, body)
    : decode(lookup, names, body, foreign, context())

/**
 * {@link decodeReceived} over a `Wire.RawMessage`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRaw = (
  raw: Wire.RawMessage,
  foreign: Options | undefined,
  context: () => Context
): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  if (foreign === undefined) return Wire.decodeRaw(raw)
  const lookup = (name: string): string | undefined => {
    const value = Wire.header(raw, name)
    return value === "" ? undefined : value
  }
  return isHerald(lookup) ? Wire.decodeRaw(raw) : decode(lookup, Object.keys(raw.headers), raw.body, foreign, context())
}

/**
 * The opt-in for a `Message` definition: foreign messages arriving here are
 * given its type and kind, with identity read through `profile`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  as?: { readonly type: string; readonly kind: Envelope.Kind },
  profile?: HeaderProfile
): Options => ({ as, profile })
