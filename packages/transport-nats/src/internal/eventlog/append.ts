/**
 * `append` and `appendRaw`: a JetStream publish with the message id as the
 * dedupe id (`Nats-Msg-Id`) and the optimistic-concurrency expectations as
 * `Nats-Expected-*` headers, errors mapped to Herald's reasons with the
 * stream and subject they concern.
 *
 * @since 0.1.0
 * @internal
 */
import { type Envelope, type EventLog, Millis, TransportError, Wire } from "@herald/transport"
import { JetStreamApiError, jserrors } from "@nats-io/jetstream/internal"
import { headers as makeHeaders, TimeoutError } from "@nats-io/nats-core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as NatsConnection from "../../NatsConnection.ts"
import { mayExceed, toHeaders, validateHeaders, validateSubject } from "../bus/wire.ts"
import * as Errors from "../errors.ts"

const defaultTimeoutMillis = 5_000

const error = TransportError.make

/** The stream capturing a subject, `undefined` when none does (or the lookup fails). */
const streamOf = (connection: NatsConnection.NatsConnection["Service"], subject: string) =>
  Effect.tryPromise(() => connection.manager.streams.find(subject)).pipe(
    Effect.map((name): string | undefined => (name === "" ? undefined : name)),
    Effect.orElseSucceed(() => undefined)
  )

const lastSequenceOf = (connection: NatsConnection.NatsConnection["Service"], stream: string) =>
  Effect.tryPromise(() => connection.manager.streams.info(stream)).pipe(
    Effect.map((info): number | undefined => info.state.last_seq),
    Effect.orElseSucceed(() => undefined)
  )

const maxMessageSizeOf = (connection: NatsConnection.NatsConnection["Service"], stream: string) =>
  Effect.tryPromise(() => connection.manager.streams.info(stream)).pipe(
    Effect.map((info): number | undefined => info.config.max_msg_size),
    Effect.orElseSucceed(() => undefined)
  )

/**
 * Maps a failed publish. The server's errors do not name the stream (nor,
 * for a wrong last sequence, which expectation failed); they are looked up
 * after the fact, on the error path only.
 */
const failure = Effect.fnUntraced(function*(
  connection: NatsConnection.NatsConnection["Service"],
  cause: unknown,
  subject: string,
  options: EventLog.AppendOptions | undefined,
  size: number,
  timeoutMillis: number
) {
  const operation = `append to ${subject}`
  // nats.js reports a publish nobody answers (no stream captures the
  // subject, or JetStream is off, as for a memory stream lost in a restart of
  // nats-server 2.9) as "jetstream is not enabled".
  if (cause instanceof jserrors.JetStreamNotEnabled) {
    // Nobody answered the publish: either no stream captures the subject, or
    // JetStream cannot answer yet (a server restarting). Ask the API which.
    const lookup = yield* Effect.result(Effect.tryPromise({
      try: () => connection.manager.streams.find(subject),
      catch: (e) => Errors.fromUnknown(e, { operation, subject })
    }))
    if (Result.isFailure(lookup) && lookup.failure.reason._tag === "StreamNotFound") {
      return error(new TransportError.NoStreamForSubject({ subject, cause }))
    }
    const detail = Result.isSuccess(lookup)
      ? `${operation}: stream ${lookup.success} captures the subject but did not answer`
      : `${operation}: JetStream did not answer (${lookup.failure.message})`
    return error(new TransportError.ConnectionError({ detail, cause }))
  }
  if (cause instanceof TimeoutError) {
    return error(new TransportError.Timeout({ operation, millis: timeoutMillis, cause }))
  }
  if (!(cause instanceof JetStreamApiError)) return Errors.fromUnknown(cause, { operation, subject, timeoutMillis })
  const stream = (yield* streamOf(connection, subject)) ?? options?.expectedStream ?? ""
  switch (cause.code) {
    case Errors.ApiCodes.StreamWrongLastSequence:
    case Errors.ApiCodes.StreamWrongLastSequenceUnknown: {
      const m = /last sequence(?: mismatch)?:?\s*(\d+)/i.exec(cause.message)
      const actual = m === null ? undefined : Number(m[1])
      const bySequence = options?.expectedLastSequence
      const bySubject = options?.expectedLastSubjectSequence
      // The server checks the stream's last sequence before the subject's,
      // and reports the same code for both: with both expectations, the
      // stream's current last sequence tells which one failed.
      let scope: "stream" | "subject" = bySequence !== undefined ? "stream" : "subject"
      if (bySequence !== undefined && bySubject !== undefined) {
        const last = stream === "" ? undefined : yield* lastSequenceOf(connection, stream)
        scope = last !== undefined && last === bySequence ? "subject" : "stream"
      }
      const expected = (scope === "stream" ? bySequence : bySubject) ?? -1
      return error(
        new TransportError.WrongLastSequence({
          stream,
          expected,
          scope,
          cause,
          ...(actual === undefined ? {} : { actual })
        })
      )
    }
    case Errors.ApiCodes.StreamNotMatch: {
      const actual = yield* streamOf(connection, subject)
      return error(
        new TransportError.WrongStream({
          subject,
          expected: options?.expectedStream ?? "",
          cause,
          ...(actual === undefined ? {} : { actual })
        })
      )
    }
    case Errors.ApiCodes.StreamMessageExceedsMaximum: {
      const max = stream === "" ? undefined : yield* maxMessageSizeOf(connection, stream)
      return error(new TransportError.MessageTooLarge({ size, max: max ?? -1, cause }))
    }
  }
  return Errors.fromUnknown(cause, { operation, subject, stream, timeoutMillis })
})

/** The first wait between retries of an append; it doubles up to {@link retryMaxDelayMillis}. */
const retryFirstDelayMillis = 100
const retryMaxDelayMillis = 2_000

/** What a retry with the same message id may cure: the server unreachable or not answering yet. */
const curable = (e: TransportError.TransportError): boolean =>
  e.reason._tag === "Timeout" || e.reason._tag === "ConnectionError"

/**
 * Options of {@link make}.
 *
 * @internal
 */
export interface Options {
  /** How long an append retries a curable failure when its options do not say (0: never). */
  readonly retryMillis: number
}

/**
 * Builds `appendRaw` and `append` over a connection.
 *
 * @internal
 */
export const make = (connection: NatsConnection.NatsConnection["Service"], settings: Options) => {
  const client = connection.client
  const maxPayload = () => client.info?.max_payload ?? connection.server.maxPayload

  /**
   * Publishes a message whose subject and headers are valid; a curable
   * failure is retried with the same message (the same `Nats-Msg-Id`: a copy
   * the server stored from an earlier attempt makes the retry a duplicate)
   * until `retryFor` has passed since the first attempt.
   */
  const publish = (
    subject: string,
    message: Wire.RawMessage,
    options: EventLog.AppendOptions | undefined,
    dedupe: boolean
  ): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> => {
    const retryMillis = options?.retryFor === undefined ? settings.retryMillis : Millis.orElse(options.retryFor, settings.retryMillis)
    if (!dedupe || retryMillis <= 0) return publishOnce(subject, message, options)
    return Effect.flatMap(Clock.currentTimeMillis, (started) => {
      const deadline = started + retryMillis
      const attempt = (delay: number): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> =>
        Effect.catch(publishOnce(subject, message, options), (e) =>
          curable(e)
            ? Effect.flatMap(Clock.currentTimeMillis, (now) => {
              if (now >= deadline) return Effect.fail(e)
              const wait = Math.min(delay, deadline - now)
              return Effect.andThen(Effect.sleep(wait), attempt(Math.min(delay * 2, retryMaxDelayMillis)))
            })
            : Effect.fail(e))
      return attempt(retryFirstDelayMillis)
    })
  }

  /** One attempt at publishing a message whose subject and headers are valid. */
  const publishOnce = (
    subject: string,
    message: Wire.RawMessage,
    options: EventLog.AppendOptions | undefined
  ): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> => {
    const max = maxPayload()
    // The exact size only when its upper bound does not fit (and on the error path).
    if (mayExceed(message, max)) {
      const size = Wire.payloadSize(message)
      if (size > max) return Effect.fail(error(new TransportError.MessageTooLarge({ size, max })))
    }
    const timeoutMillis = options?.timeout === undefined
      ? defaultTimeoutMillis
      : Math.max(1, Millis.orElse(options.timeout, defaultTimeoutMillis))
    const expect = options === undefined ? {} : {
      ...(options.expectedLastSequence === undefined ? {} : { lastSequence: options.expectedLastSequence }),
      ...(options.expectedLastSubjectSequence === undefined
        ? {}
        : { lastSubjectSequence: options.expectedLastSubjectSequence }),
      ...(options.expectedStream === undefined ? {} : { streamName: options.expectedStream })
    }
    return Effect.tryPromise({
      try: () =>
        connection.jetstream.publish(subject, message.body, {
          headers: toHeaders(message) ?? makeHeaders(),
          expect,
          timeout: timeoutMillis
        }),
      catch: (e) => e
    }).pipe(
      Effect.catch((e) =>
        Effect.flatMap(failure(connection, e, subject, options, Wire.payloadSize(message), timeoutMillis), Effect.fail)
      ),
      Effect.map((ack): EventLog.AppendResult => ({ stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate }))
    )
  }

  const appendRaw = (
    subject: string,
    message: Wire.RawMessage,
    options?: EventLog.AppendOptions
  ): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const headersValid = validateHeaders(message)
      if (Result.isFailure(headersValid)) return Effect.fail(headersValid.failure)
      // Without a dedupe id a retry could store a second copy: one attempt.
      return publish(subject, message, options, Wire.header(message, Wire.HeaderNames.natsMsgId) !== undefined)
    })

  // `Wire.encode` validated the envelope's extra headers and wrote Herald's
  // own: `append` checks the subject once and does not check the headers
  // again (as `appendRaw` must).
  const append = (
    subject: string,
    envelope: Envelope.Envelope,
    options?: EventLog.AppendOptions
  ): Effect.Effect<EventLog.AppendResult, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      return publish(subject, raw.success, options, true)
    })

  return { append, appendRaw }
}
