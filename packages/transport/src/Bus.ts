/**
 * The `Bus` contract: core NATS semantics, at-most-once.
 *
 * `publish` sends an envelope to a subject; `subscribe` returns a `Stream` of
 * what arrives on a pattern (the subscription is live when the effect returns
 * and ends when its scope closes); `request` sends and waits for one reply;
 * `serve` answers requests until its scope closes. Queue groups share the
 * messages of a subject among their members, each message to one member.
 *
 * Subjects are validated: a malformed subject or pattern fails with
 * `InvalidSubject` before anything is sent. A message that arrives but cannot be
 * decoded into an envelope is handed to `onInvalid` (by default logged as a
 * warning with its reason) and is not emitted: core NATS has no redelivery and
 * no dead-letter queue; use the `EventLog` when a message must not be lost.
 *
 * Implemented by `@herald/transport-nats` and by `@herald/testing` (in memory).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Envelope from "./Envelope.ts"
import type * as Foreign from "./Foreign.ts"
import type * as TransportError from "./TransportError.ts"
import type * as Wire from "./Wire.ts"

/**
 * What handlers of either contract receive: the subject and the envelope.
 *
 * @since 0.1.0
 * @category models
 */
export interface Incoming {
  readonly subject: string
  readonly envelope: Envelope.Envelope
}

/**
 * A message received from a subscription.
 *
 * @since 0.1.0
 * @category models
 */
export interface Received extends Incoming {
  /** The reply subject, for a request. */
  readonly replyTo: string | undefined
}

/**
 * Options of `subscribe`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions {
  /** A queue group: each message goes to one member of the group. */
  readonly queue?: string | undefined
  /** Messages buffered for a slow reader before the oldest are dropped (default 65,536). */
  readonly bufferSize?: number | undefined
  /** Called with a message that is not a valid envelope (default: log a warning). */
  readonly onInvalid?: ((subject: string, error: TransportError.TransportError) => Effect.Effect<void>) | undefined
  /**
   * Accept messages without Herald's headers (from services that do not speak
   * Herald): their identity is synthesized (see `Foreign`). Off by default.
   */
  readonly foreign?: Foreign.Options | undefined
}

/**
 * Options of `request`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** How long to wait for the reply (default 5 seconds). */
  readonly timeout?: Duration.Input | undefined
  /**
   * Accept a reply without Herald's headers (a plain responder): it joins the
   * request's flow (correlation = the request's, causation = the request's id).
   */
  readonly foreign?: Foreign.Options | undefined
}

/**
 * Options of `serve`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions {
  readonly queue?: string | undefined
  /** Requests handled at once (default 1; requests are served in arrival order). */
  readonly concurrency?: number | undefined
  /** Accept requests without Herald's headers (for instance a plain `nc.request`); see `Foreign`. */
  readonly foreign?: Foreign.Options | undefined
}

/**
 * The core NATS contract.
 *
 * @since 0.1.0
 * @category services
 */
export class Bus extends Context.Service<Bus, {
  /**
   * Sends an envelope to a subject. Nobody listening is not an error; a
   * subject the server does not permit is `PermissionDenied`.
   */
  readonly publish: (subject: string, envelope: Envelope.Envelope) => Effect.Effect<void, TransportError.TransportError>
  /** Sends raw headers and bytes, for interoperation with non-Herald peers. */
  readonly publishRaw: (subject: string, message: Wire.RawMessage) => Effect.Effect<void, TransportError.TransportError>
  /**
   * Subscribes to a pattern; the subscription ends with the scope. A
   * subscription the server refuses fails with `PermissionDenied` (this
   * effect, or the stream when the refusal comes later, e.g. after a
   * reconnect).
   */
  readonly subscribe: (
    pattern: string,
    options?: SubscribeOptions
  ) => Effect.Effect<Stream.Stream<Received, TransportError.TransportError>, TransportError.TransportError, Scope.Scope>
  /**
   * Sends a request and waits for one reply. `Timeout` when none comes in
   * time, `NoResponders` when nobody serves the subject, `RemoteError` when the
   * responder failed.
   */
  readonly request: (
    subject: string,
    envelope: Envelope.Envelope,
    options?: RequestOptions
  ) => Effect.Effect<Envelope.Envelope, TransportError.TransportError>
  /**
   * Answers requests on a pattern until the scope closes. A handler failure is
   * sent back as an error reply (`RemoteError` at the requester). A message
   * without a reply subject is not a request and is not handled.
   */
  readonly serve: <E, R>(
    pattern: string,
    handler: (request: Received) => Effect.Effect<Envelope.Envelope, E, R>,
    options?: ServeOptions
  ) => Effect.Effect<void, TransportError.TransportError, Scope.Scope | R>
}>()("@herald/transport/Bus") {}
