/**
 * `EventLog.Delivery` values over JetStream deliveries: decoding, and
 * settlement (`ack`, `nak`, `term`, `inProgress`) confirmed by the server.
 *
 * Settlements are sent as requests to the delivery's `$JS.ACK` subject: the
 * server answers each one once it has applied it, so that an `ack` that
 * succeeded is seen by the next `lag` or `pull` (a fire-and-forget ack is
 * applied on the consumer's own goroutine, after requests that were sent
 * later may already have been answered).
 *
 * @since 0.1.0
 * @internal
 */
import { type Envelope, type EventLog, Foreign, Millis, TransportError, Wire } from "@herald/transport"
import type { Msg, NatsConnection as Client } from "@nats-io/nats-core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Errors from "../errors.ts"
import { type AckInfo, parseAckSubject, rawOfStored, type Stored, storedOfMsg } from "./message.ts"

const encoder = new TextEncoder()

/**
 * The settlements a delivery counts.
 *
 * @internal
 */
export type Settlement = "acked" | "naked" | "termed"

/**
 * What settlement needs from the layer.
 *
 * @internal
 */
export interface SettleContext {
  readonly client: Client
  readonly timeoutMillis: number
  /**
   * Whether the server reads a reason after `+TERM` (2.11 and newer). Older
   * servers do not recognise `+TERM <reason>` at all: nats-server 2.9 leaves
   * such a delivery pending, so only a bare `+TERM` is sent to them.
   */
  readonly termWithReason: boolean
}

/**
 * A received delivery, parsed but not decoded.
 *
 * @internal
 */
export interface Received {
  readonly msg: Msg
  readonly reply: string
  readonly info: AckInfo
  /** The stored message as read, for its dead letter. */
  readonly stored: Stored
  /** What a handler sees of it. */
  readonly raw: Wire.RawMessage
}

/**
 * Parses a message from a pull inbox; `undefined` when it is no JetStream
 * delivery (no `$JS.ACK` reply subject).
 *
 * @internal
 */
export const receive = (msg: Msg): Received | undefined => {
  const info = parseAckSubject(msg.reply)
  if (info === undefined || msg.reply === undefined) return undefined
  const stored = storedOfMsg(msg)
  return { msg, reply: msg.reply, info, stored, raw: rawOfStored(stored) }
}

const decodeError = (detail: string, header?: string): TransportError.TransportError =>
  TransportError.make(
    header === undefined
      ? new TransportError.DecodeError({ detail })
      : new TransportError.DecodeError({ detail, header })
  )

/**
 * Decodes a delivery's envelope. A stored message whose header block is a
 * status line, cannot be read, or has a header that could not be sent, is
 * no envelope: a `DecodeError` saying which.
 *
 * @internal
 */
export const decode = (
  received: Received,
  foreign?: Foreign.Options | undefined
): Result.Result<Envelope.Envelope, TransportError.TransportError> => {
  const stored = received.stored
  if (stored.unreadable !== undefined) {
    return Result.fail(decodeError(`the header block cannot be read: ${Wire.oneLine(stored.unreadable, 256)}`))
  }
  const status = stored.original.status
  if (status !== undefined) {
    return Result.fail(
      decodeError(`the header block is a status line (NATS/1.0 ${Wire.oneLine(status, 256)}), not a message's headers`)
    )
  }
  for (const [name, value] of stored.original.headers) {
    if (Result.isSuccess(Wire.validateHeader(name, value))) continue
    const shown = Wire.oneLine(JSON.stringify(name.slice(0, 256)))
    return Result.fail(
      Result.isFailure(Wire.validateHeader(name, ""))
        ? decodeError(`header name ${shown} is not a token`, name.slice(0, 256))
        : decodeError(`header ${shown}: value contains CR or LF`, name)
    )
  }
  return foreign === undefined
    ? Wire.decodeRaw(received.raw)
    : Foreign.decodeRaw(received.raw, foreign, () => ({
      subject: received.msg.subject,
      kind: "event",
      // Stable across redeliveries, so an inbox or dedupe sees one message.
      fallbackId: () => `${received.info.stream}:${received.info.streamSequence}`,
      now: received.info.timestamp
    }))
}

/**
 * A delivery with its settlement guard: `settled` turns `true` with the first
 * `ack`, `nak` or `term`; later ones do nothing.
 *
 * @internal
 */
export interface Handle {
  readonly delivery: EventLog.Delivery
  readonly received: Received
  readonly isSettled: () => boolean
  /**
   * Takes the settlement over (the runner's background ack): `true` when
   * nothing settled the delivery yet; from then on `ack`, `nak` and `term`
   * do nothing, until `unclaim`.
   */
  readonly claim: () => boolean
  /** Gives a claimed settlement back (it could not be sent). */
  readonly unclaim: () => void
}

/**
 * Sends one settlement to a delivery's ack subject and waits for the server's
 * confirmation.
 *
 * @internal
 */
export const sendAck = (
  ctx: SettleContext,
  received: Received,
  payload: string,
  what: string
): Effect.Effect<void, TransportError.TransportError> =>
  Effect.asVoid(Effect.tryPromise({
    try: () => ctx.client.request(received.reply, encoder.encode(payload), { timeout: ctx.timeoutMillis }),
    catch: (e) =>
      Errors.fromUnknown(e, {
        operation: `${what} ${received.info.stream}/${received.info.consumer} sequence ${received.info.streamSequence}`,
        stream: received.info.stream,
        consumer: received.info.consumer,
        subject: received.reply,
        timeoutMillis: ctx.timeoutMillis
      })
  }))

/**
 * The `-NAK` payload: with a delay when it is positive.
 *
 * @internal
 */
export const nakPayload = (delayMillis: number): string =>
  delayMillis > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMillis * 1_000_000) })}` : "-NAK"


/**
 * Builds the delivery of a received message. `onSettled` is called after each
 * settlement the server confirmed.
 *
 * @internal
 */
export const make = (
  ctx: SettleContext,
  received: Received,
  envelope: Envelope.Envelope,
  deadLetterSubject: string,
  onSettled?: (settlement: Settlement) => void
): Handle => {
  let settled = false
  const settle = (settlement: Settlement, payload: string, what: string) =>
    Effect.suspend(() => {
      if (settled) return Effect.void
      settled = true
      return sendAck(ctx, received, payload, what).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            // Not confirmed: the caller may try again (the server ignores a
            // settlement of a delivery that is no longer pending).
            if (Exit.isFailure(exit)) settled = false
            else onSettled?.(settlement)
          })
        )
      )
    })
  const info = received.info
  const delivery: EventLog.Delivery = {
    subject: received.msg.subject,
    envelope,
    stream: info.stream,
    consumer: info.consumer,
    streamSequence: info.streamSequence,
    consumerSequence: info.consumerSequence,
    deliveryCount: info.deliveryCount,
    timestamp: info.timestamp,
    pending: info.pending,
    raw: received.raw,
    deadLetterSubject,
    ack: settle("acked", "+ACK", "ack"),
    nak: (delay?: Duration.Input) => settle("naked", nakPayload(Millis.orElse(delay, 0)), "nak"),
    term: (reason?: string) =>
      settle(
        "termed",
        ctx.termWithReason && reason !== undefined && reason !== "" ? `+TERM ${Wire.oneLine(reason, 1024)}` : "+TERM",
        "term"
      ),
    inProgress: Effect.suspend(() => (settled ? Effect.void : sendAck(ctx, received, "+WPI", "inProgress")))
  }
  return {
    delivery,
    received,
    isSettled: () => settled,
    claim: () => {
      if (settled) return false
      settled = true
      return true
    },
    unclaim: () => {
      settled = false
    }
  }
}

/**
 * Settles a delivery that is not handed to anyone (shutdown, an undecodable
 * message): a bare settlement without a guard.
 *
 * @internal
 */
export const settleRaw = (
  ctx: SettleContext,
  received: Received,
  settlement: "nak" | "term",
  delayMillis = 0
): Effect.Effect<void, TransportError.TransportError> =>
  settlement === "nak"
    ? sendAck(ctx, received, nakPayload(delayMillis), "nak")
    : sendAck(ctx, received, "+TERM", "term")

/**
 * A `DecodeError` naming the stream and sequence, keeping the header it names.
 *
 * @internal
 */
export const decodeErrorAt = (
  stream: string,
  sequence: number,
  error: TransportError.TransportError
): TransportError.TransportError => {
  const reason = error.reason
  const detail = `stream ${stream} sequence ${sequence}: ${reason._tag === "DecodeError" ? reason.detail : reason.message}`
  return TransportError.make(
    reason._tag === "DecodeError" && reason.header !== undefined
      ? new TransportError.DecodeError({ detail, header: reason.header, cause: error })
      : new TransportError.DecodeError({ detail, cause: error })
  )
}
