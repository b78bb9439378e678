/**
 * Appending a stored message again, as `herald dlq retry` and `herald
 * replay` do: the original body and headers, the same `Herald-Message-Id`
 * (an inbox that already handled the message recognises it and skips it) and
 * a fresh `Nats-Msg-Id` (JetStream's duplicate window does not swallow the
 * copy as the original). The original's `Nats-*` headers (its id, its
 * expectations) are not sent again.
 *
 * @since 0.1.0
 */
import { DeadLetter, EventLog, TransportError, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as CommandError from "./CommandError.ts"

/**
 * The copy of a stored message that is appended again: its headers without
 * the `Nats-*` ones, `Nats-Msg-Id` set to `natsMsgId`, and its body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const copy = (raw: Wire.RawMessage, natsMsgId: string): Wire.RawMessage => {
  const headers: Record<string, string> = {}
  for (const name of Object.keys(raw.headers)) {
    if (name.toLowerCase().startsWith("nats-")) continue
    Object.defineProperty(headers, name, { value: raw.headers[name]!, enumerable: true, writable: true, configurable: true })
  }
  headers[Wire.HeaderNames.natsMsgId] = natsMsgId
  return { headers, body: raw.body }
}

/**
 * The `Nats-Msg-Id` of a copy of the message stored at `sequence` of
 * `stream`, sent by a run that started at `startedAt` (Unix epoch
 * milliseconds): `DeadLetter.retryId`'s `retry:<stream>:<sequence>:<time>`,
 * which `Wire.decode` accepts beside the message's `Herald-Message-Id`. Each
 * run sends fresh copies; an append retried within one run is deduplicated.
 *
 * @since 0.1.0
 * @category constructors
 */
export const copyId = (stream: string, sequence: number, startedAt: number): string =>
  DeadLetter.retryId(stream, sequence, startedAt)

/**
 * Appends a copy to `subject`. A failure that may pass (a timeout, a lost
 * connection) fails the effect: the command stops. A refusal (no stream
 * captures the subject, a message too large) is answered as a failed
 * `Result`, for the caller to report.
 *
 * @since 0.1.0
 * @category appending
 */
export const append = (
  subject: string,
  message: Wire.RawMessage
): Effect.Effect<
  Result.Result<EventLog.AppendResult, TransportError.TransportError>,
  CommandError.CommandError,
  EventLog.EventLog
> =>
  Effect.flatMap(EventLog.EventLog, (log) =>
    log.appendRaw(subject, message).pipe(
      Effect.map(Result.succeed),
      Effect.catch((error) => TransportError.isRetryable(error) ? Effect.fail(error) : Effect.succeed(Result.fail(error))),
      Effect.mapError(CommandError.transport)
    ))
