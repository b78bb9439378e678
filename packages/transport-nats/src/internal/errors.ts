/**
 * The one place where nats.js errors become `TransportError` reasons.
 *
 * @internal
 */
import * as nats from "@nats-io/nats-core"
import * as js from "@nats-io/jetstream/internal"
import { TransportError } from "@herald/transport"

/** What was being done, to name it in the error. */
export interface Context {
  readonly operation: string
  readonly subject?: string | undefined
  readonly stream?: string | undefined
  readonly consumer?: string | undefined
  readonly timeoutMillis?: number | undefined
}

const make = TransportError.make

const messageOf = (u: unknown): string => (u instanceof Error ? u.message : String(u))

// JetStream API error codes (nats-server/server/errors.json).
export const ApiCodes = {
  ConsumerNotFound: 10014,
  StreamNotFound: 10059,
  StreamWrongLastSequence: 10071,
  StreamWrongLastSequenceUnknown: 10164,
  StreamNotMatch: 10060,
  StreamMessageExceedsMaximum: 10054,
  StreamStoreFailed: 10077,
  StreamSubjectOverlap: 10065,
  StreamNameExist: 10058,
  StreamInvalidConfig: 10052,
  ConsumerNameExist: 10013,
  ConsumerCreate: 10012,
  StreamReplicasNotSupported: 10074,
  JetStreamNotEnabled: 10076,
  JetStreamNotEnabledForAccount: 10039,
  BadRequest: 10003,
  NoMessageFound: 10037,
  ConsumerWQConsumersNotUnique: 10100,
  ConsumerWQRequiresExplicitAck: 10098,
  ConsumerWQMultipleUnfiltered: 10099,
  ConsumerFilterNotSubset: 10093,
  ConsumerWQNotDeliverAll: 10101,
  ConsumerMaxDeliverBackoff: 10116
} as const

const apiError = (u: js.JetStreamApiError, ctx: Context): TransportError.TransportError => {
  const detail = `${ctx.operation}: ${u.message}`
  const stream = ctx.stream ?? ""
  // A change the server refuses to make in place ("... can not be updated", "... can not change ...").
  if ((u.code === ApiCodes.StreamInvalidConfig || u.code === ApiCodes.ConsumerCreate) && /can ?not (be )?(updated|change)/i.test(u.message)) {
    return make(new TransportError.TopologyConflict({ detail, cause: u }))
  }
  switch (u.code) {
    case ApiCodes.StreamNotFound:
      return make(new TransportError.StreamNotFound({ stream, cause: u }))
    case ApiCodes.ConsumerNotFound:
      return make(new TransportError.ConsumerNotFound({ stream, consumer: ctx.consumer ?? "", cause: u }))
    case ApiCodes.StreamWrongLastSequence:
    case ApiCodes.StreamWrongLastSequenceUnknown: {
      const actual = /last sequence(?: mismatch)?:?\s*(\d+)/i.exec(u.message)
      return make(
        new TransportError.WrongLastSequence({
          stream,
          expected: -1,
          scope: "stream",
          cause: u,
          ...(actual === null ? {} : { actual: Number(actual[1]) })
        })
      )
    }
    case ApiCodes.StreamNotMatch:
      return make(new TransportError.WrongStream({ subject: ctx.subject ?? "", expected: stream, cause: u }))
    case ApiCodes.StreamSubjectOverlap:
    case ApiCodes.StreamNameExist:
    case ApiCodes.ConsumerNameExist:
    case ApiCodes.ConsumerWQConsumersNotUnique:
    case ApiCodes.ConsumerWQMultipleUnfiltered:
      return make(new TransportError.TopologyConflict({ detail, cause: u }))
    case ApiCodes.StreamInvalidConfig:
    case ApiCodes.ConsumerCreate:
    case ApiCodes.BadRequest:
    case ApiCodes.StreamReplicasNotSupported:
    case ApiCodes.ConsumerWQRequiresExplicitAck:
    case ApiCodes.ConsumerFilterNotSubset:
    case ApiCodes.ConsumerWQNotDeliverAll:
    case ApiCodes.ConsumerMaxDeliverBackoff:
      return make(new TransportError.InvalidConfig({ detail, cause: u }))
    case ApiCodes.JetStreamNotEnabled:
    case ApiCodes.JetStreamNotEnabledForAccount:
      return make(new TransportError.ConnectionError({ detail: `${ctx.operation}: JetStream is not available`, cause: u }))
  }
  if (/maximum messages( per subject)? exceeded|maximum bytes exceeded/i.test(u.message)) {
    return make(new TransportError.LimitExceeded({ stream, limit: u.message, cause: u }))
  }
  if (/message size exceeds maximum/i.test(u.message)) {
    return make(new TransportError.MessageTooLarge({ size: -1, max: -1, cause: u }))
  }
  return make(new TransportError.Unknown({ detail, cause: u }))
}

/** Maps anything nats.js throws or rejects with. */
export const fromUnknown = (u: unknown, ctx: Context): TransportError.TransportError => {
  if (TransportError.isTransportError(u)) return u
  if (u instanceof js.JetStreamApiError) return apiError(u, ctx)
  if (u instanceof js.jserrors.JetStreamNotEnabled) {
    return make(new TransportError.ConnectionError({ detail: `${ctx.operation}: JetStream is not available (${u.message})`, cause: u }))
  }
  if (u instanceof nats.TimeoutError) {
    return make(new TransportError.Timeout({ operation: ctx.operation, millis: ctx.timeoutMillis ?? -1, cause: u }))
  }
  if (u instanceof nats.NoRespondersError) {
    return make(new TransportError.NoResponders({ subject: ctx.subject ?? u.subject, cause: u }))
  }
  if (u instanceof nats.RequestError) {
    if (u.isNoResponders()) return make(new TransportError.NoResponders({ subject: ctx.subject ?? "", cause: u }))
    const inner = u.cause
    if (inner !== undefined && inner !== u) return fromUnknown(inner, ctx)
  }
  if (u instanceof nats.ClosedConnectionError || u instanceof nats.DrainingConnectionError) {
    return make(new TransportError.Closed({ detail: `${ctx.operation}: ${u.message}`, cause: u }))
  }
  if (u instanceof nats.ConnectionError) {
    return make(new TransportError.ConnectionError({ detail: `${ctx.operation}: ${u.message}`, cause: u }))
  }
  if (u instanceof nats.PermissionViolationError) {
    return make(
      new TransportError.PermissionDenied({
        operation: u.operation === "subscription" ? "subscribe" : "publish",
        subject: u.subject === "" ? ctx.subject ?? "" : u.subject,
        cause: u
      })
    )
  }
  if (u instanceof nats.AuthorizationError || u instanceof nats.UserAuthenticationExpiredError) {
    return make(new TransportError.AuthorizationError({ detail: `${ctx.operation}: ${u.message}`, cause: u }))
  }
  if (u instanceof nats.InvalidSubjectError) {
    return make(new TransportError.InvalidSubject({ subject: ctx.subject ?? "", detail: u.message, cause: u }))
  }
  if (u instanceof nats.InvalidArgumentError || u instanceof js.jserrors.InvalidNameError) {
    return make(new TransportError.InvalidConfig({ detail: `${ctx.operation}: ${u.message}`, cause: u }))
  }
  if (u instanceof js.JetStreamStatusError) {
    if (u.code === 409 && /consumer deleted/i.test(u.message)) {
      return make(new TransportError.ConsumerNotFound({ stream: ctx.stream ?? "", consumer: ctx.consumer ?? "", cause: u }))
    }
    if (u.code === 409 && /stream deleted/i.test(u.message)) {
      return make(new TransportError.StreamNotFound({ stream: ctx.stream ?? "", cause: u }))
    }
  }
  const text = messageOf(u)
  if (/max(imum)?[ _]payload/i.test(text)) {
    return make(new TransportError.MessageTooLarge({ size: -1, max: -1, cause: u }))
  }
  // A TLS handshake the client refuses (untrusted or mismatched certificate) is a connection that cannot be made.
  if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|disconnect|socket|certificate|ERR_TLS_/i.test(text)) {
    return make(new TransportError.ConnectionError({ detail: `${ctx.operation}: ${text}`, cause: u }))
  }
  return make(new TransportError.Unknown({ detail: `${ctx.operation}: ${text}`, cause: u }))
}
