/**
 * The `EventLog` contract: JetStream semantics, at-least-once and durable.
 *
 * - `append` stores an envelope in the stream that captures its subject. The
 *   message id is always the dedupe id (`Nats-Msg-Id`): appending the same id
 *   again inside the stream's duplicate window stores nothing and answers
 *   `duplicate: true` with the first copy's sequence. Retry an append with the
 *   same envelope, never a new id.
 * - `pull` fetches deliveries from a durable consumer for manual `ack`, `nak`
 *   (with an optional delay), `term` and `inProgress`.
 * - `consume` runs a handler over a durable consumer in a scope: success acks,
 *   a retryable failure naks with backoff, a non-retryable failure (a decode
 *   error, a schema mismatch) or the last allowed delivery dead-letters the
 *   message and terms it. A message that reaches the consumer's `maxDeliver`
 *   through ack timeouts is dead-lettered too. A dead letter that cannot be
 *   stored is not termed: the message is nak'd and tried again, so nothing is
 *   lost.
 * - `read` streams stored messages in order for replay; `get` fetches the one
 *   stored at a sequence.
 *
 * Implemented by `@herald/transport-nats` and by `@herald/testing` (in memory).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Bus from "./Bus.ts"
import type * as ConsumerStateModule from "./ConsumerState.ts"
import type * as Envelope from "./Envelope.ts"
import type * as Foreign from "./Foreign.ts"
import * as TransportError from "./TransportError.ts"
import type * as Wire from "./Wire.ts"

/**
 * Options of `append`: optimistic-concurrency expectations.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendOptions {
  /** Fail with `WrongLastSequence` unless the stream's last sequence is this (0: empty). */
  readonly expectedLastSequence?: number | undefined
  /** Fail with `WrongLastSequence` unless the last message on this subject has this sequence (0: none). */
  readonly expectedLastSubjectSequence?: number | undefined
  /** Fail unless the subject is captured by this stream. */
  readonly expectedStream?: string | undefined
  /** How long to wait for the server's acknowledgement (default 5 seconds). */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long an append that failed with `Timeout` or `ConnectionError` (the
   * server unreachable, the connection reconnecting) keeps being retried with
   * the same message id, counted from its first attempt. The transport's
   * default applies when absent (60 seconds on NATS; the in-memory transport
   * cannot lose its connection); `0` fails at the first such failure.
   */
  readonly retryFor?: Duration.Input | undefined
}

/**
 * Where an append was stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  readonly stream: string
  readonly sequence: number
  /** `true` when the message id was seen inside the duplicate window: nothing new was stored. */
  readonly duplicate: boolean
}

/**
 * One delivery of a stored message to a durable consumer.
 *
 * Exactly one of `ack`, `nak`, `term` takes effect; later calls are ignored.
 * `inProgress` resets the ack-wait timer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery extends Bus.Incoming {
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  readonly consumerSequence: number
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** When the message was stored (Unix epoch milliseconds). */
  readonly timestamp: number
  /** Messages still waiting for this consumer after this one. */
  readonly pending: number
  /** The headers and body as stored. */
  readonly raw: Wire.RawMessage
  /**
   * Where this delivery's dead letter goes: the `deadLetterSubject` option
   * of the `consume` that runs it, else the consumer's
   * (`Topology.deadLetterSubject`).
   */
  readonly deadLetterSubject: string
  readonly ack: Effect.Effect<void, TransportError.TransportError>
  /** Asks for redelivery, after `delay` when given (else, or when it is infinite, negative or not a duration, at once). */
  readonly nak: (delay?: Duration.Input) => Effect.Effect<void, TransportError.TransportError>
  /** Gives up on the message: never delivered again to this consumer. */
  readonly term: (reason?: string) => Effect.Effect<void, TransportError.TransportError>
  readonly inProgress: Effect.Effect<void, TransportError.TransportError>
}

/**
 * Options of `pull`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PullOptions {
  /** At most this many deliveries (default 1). */
  readonly batch?: number | undefined
  /** How long to wait for the first delivery when none is ready (default 1 second). */
  readonly expires?: Duration.Input | undefined
  /**
   * Accept messages without Herald's headers (written by services that do not
   * speak Herald): their identity is synthesized (see `Foreign`; the message id
   * falls back to `<stream>:<sequence>`, stable across redeliveries). Off by
   * default: such a message is dead-lettered as undecodable.
   */
  readonly foreign?: Foreign.Options | undefined
}

/**
 * The deliveries a `consume` runner holds at once when `maxAckPending` is not
 * given: 10 × concurrency, at least 100 (what nats.js's own `consume()`
 * buffers). A smaller bound makes a runner wait for the next pull round trip
 * every few messages: at concurrency 1 a bound of 10 held it to about half
 * the rate of a bound of 100 (bench/README.md).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultMaxAckPending = (concurrency: number): number => Math.max(100, 10 * concurrency)

/**
 * Options of `consume`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumeOptions {
  /** Handlers running at once (default 1: in stream order). */
  readonly concurrency?: number | undefined
  /**
   * Deliveries held by this runner at once, at most the consumer's
   * `maxAckPending` (default {@link defaultMaxAckPending}: 10 × concurrency,
   * at least 100).
   */
  readonly maxAckPending?: number | undefined
  /** The nak delay after a retryable failure, by delivery count (default: the consumer's backoff, else 1 s doubling to 30 s). */
  readonly nakDelay?: ((deliveryCount: number) => Duration.Input) | undefined
  /** Overrides the consumer's dead-letter subject. */
  readonly deadLetterSubject?: string | undefined
  /** How long closing the scope waits for handlers in flight before it naks them (default 10 seconds). */
  readonly shutdownTimeout?: Duration.Input | undefined
  /**
   * Accept messages without Herald's headers (written by services that do not
   * speak Herald): their identity is synthesized (see `Foreign`; the message id
   * falls back to `<stream>:<sequence>`, stable across redeliveries). Off by
   * default: such a message is dead-lettered as undecodable.
   */
  readonly foreign?: Foreign.Options | undefined
  /**
   * How long a handler may run (default: the consumer's ack wait). Past it
   * the handler is interrupted, the delivery settled as a retryable failure
   * (nak'd after the nak delay; dead-lettered on the last allowed delivery),
   * a warning logged, and `stats.timedOut` counts it. `"none"`: no deadline.
   */
  readonly handlerDeadline?: Duration.Input | "none" | undefined
  /**
   * Warn when no delivery arrived for this long (default: off): a warning
   * is logged once per idle period and the handle's state shows it
   * (`Running` with `idleSince`). Idle is not an error: the runner goes on.
   */
  readonly idleWarning?: Duration.Input | undefined
}

/**
 * Counts kept by a running consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerStats {
  readonly acked: number
  readonly naked: number
  readonly termed: number
  readonly deadLettered: number
  readonly inFlight: number
  /** Handlers interrupted at the handler deadline. */
  readonly timedOut: number
}

/**
 * The state of a consumer runner: `Running`, `Recovering`, `Stalled` or
 * `Failed`, with why (see `ConsumerState`).
 *
 * @since 0.1.0
 * @category models
 */
export type ConsumerState = ConsumerStateModule.ConsumerState

/**
 * A running consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerHandle {
  readonly stats: Effect.Effect<ConsumerStats>
  /** The runner's state now: for health checks and metrics. */
  readonly state: Effect.Effect<ConsumerState>
  /**
   * The state now, then each transition (a change of tag, reason or
   * `since`, an idle period starting or ending); it ends after `Failed` and
   * when the consumer's scope closes.
   */
  readonly changes: Stream.Stream<ConsumerState>
  /** Fails when the runner stops on an error it cannot recover from (a deleted stream, say); never succeeds while running. */
  readonly await: Effect.Effect<never, TransportError.TransportError>
}

/**
 * A starting or ending point for `read`.
 *
 * @since 0.1.0
 * @category models
 */
export type Position =
  | { readonly sequence: number }
  | { readonly time: number }

/**
 * Options of `read`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions {
  /** Default: the first message. */
  readonly from?: Position | undefined
  /** Inclusive. Default: the last message when the read starts. */
  readonly to?: Position | undefined
  /** Only subjects matching this pattern. */
  readonly filter?: string | undefined
}

/**
 * A stored message as bytes, as `readRaw` returns it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawStoredMessage {
  readonly subject: string
  readonly stream: string
  readonly sequence: number
  readonly timestamp: number
  readonly raw: Wire.RawMessage
}

/**
 * A stored message, as `read` returns it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredMessage extends RawStoredMessage, Bus.Incoming {}

/**
 * A stream's state.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamInfo {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly messages: number
  readonly bytes: number
  /** 0 when the stream is empty. */
  readonly firstSequence: number
  /** The last sequence assigned; it stays when the stream empties (0 only for a stream never written). */
  readonly lastSequence: number
  readonly consumers: number
}

/**
 * How far a consumer is behind.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerLag {
  readonly stream: string
  readonly consumer: string
  /** Matching messages not yet delivered. */
  readonly pending: number
  /** Delivered but not yet acknowledged. */
  readonly ackPending: number
  /** Messages being redelivered. */
  readonly redelivered: number
  /** Highest stream sequence delivered. */
  readonly delivered: number
  /** Stream sequence at and below which everything is acknowledged. */
  readonly ackFloor: number
}

/**
 * The JetStream contract.
 *
 * @since 0.1.0
 * @category services
 */
export class EventLog extends Context.Service<EventLog, {
  readonly append: (
    subject: string,
    envelope: Envelope.Envelope,
    options?: AppendOptions
  ) => Effect.Effect<AppendResult, TransportError.TransportError>
  /** Appends raw headers and bytes (dedupe by their `Nats-Msg-Id`, if any). */
  readonly appendRaw: (
    subject: string,
    message: Wire.RawMessage,
    options?: AppendOptions
  ) => Effect.Effect<AppendResult, TransportError.TransportError>
  /**
   * Fetches up to `batch` deliveries: waits up to `expires` for the first,
   * then takes what is ready. A stored message that is not a valid envelope
   * is dead-lettered and termed, not returned.
   */
  readonly pull: (
    stream: string,
    consumer: string,
    options?: PullOptions
  ) => Effect.Effect<ReadonlyArray<Delivery>, TransportError.TransportError>
  /** Runs `handler` over the consumer until the scope closes. */
  readonly consume: <E, R>(
    stream: string,
    consumer: string,
    handler: (delivery: Delivery) => Effect.Effect<void, E, R>,
    options?: ConsumeOptions
  ) => Effect.Effect<ConsumerHandle, TransportError.TransportError, Scope.Scope | R>
  /** Stored messages in sequence order; fails with `DecodeError` on one that is not a valid envelope. */
  readonly read: (
    stream: string,
    options?: ReadOptions
  ) => Stream.Stream<StoredMessage, TransportError.TransportError>
  /**
   * Stored messages in sequence order as headers and bytes, without decoding:
   * for dead letters of messages that were never valid envelopes, and for
   * inspecting foreign messages.
   */
  readonly readRaw: (
    stream: string,
    options?: ReadOptions
  ) => Stream.Stream<RawStoredMessage, TransportError.TransportError>
  /**
   * The message stored at `sequence`, decoded as `read` decodes it (a
   * message that is not a valid envelope fails with `DecodeError`), or
   * `Option.none()` when there is none: never stored there, deleted,
   * purged, or past the last sequence. A sequence that is not a positive
   * integer is `InvalidConfig`; an unknown stream `StreamNotFound`.
   *
   * @since 0.1.0
   */
  readonly get: (
    stream: string,
    sequence: number
  ) => Effect.Effect<Option.Option<StoredMessage>, TransportError.TransportError>
  /**
   * The message stored at `sequence` as headers and bytes, without decoding
   * (as `readRaw`), or `Option.none()` when there is none.
   *
   * @since 0.1.0
   */
  readonly getRaw: (
    stream: string,
    sequence: number
  ) => Effect.Effect<Option.Option<RawStoredMessage>, TransportError.TransportError>
  readonly info: (stream: string) => Effect.Effect<StreamInfo, TransportError.TransportError>
  readonly lag: (stream: string, consumer: string) => Effect.Effect<ConsumerLag, TransportError.TransportError>
}>()("@herald/transport/EventLog") {}

/**
 * Checks the sequence given to `get` / `getRaw`: a positive integer, else
 * `InvalidConfig` naming it. Both transports call it before anything is sent.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateSequence = (
  stream: string,
  sequence: number
): Result.Result<void, TransportError.TransportError> =>
  typeof sequence === "number" && Number.isSafeInteger(sequence) && sequence > 0
    ? Result.void
    : Result.fail(
      TransportError.make(
        new TransportError.InvalidConfig({
          detail: `get ${stream}: sequence must be a positive integer, got ${String(sequence)}`
        })
      )
    )
