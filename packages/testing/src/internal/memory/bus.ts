/**
 * The `Bus` of the in-memory transport: core NATS semantics over the
 * server's subscription trie.
 *
 * @since 0.1.0
 * @internal
 */
import type { Ids } from "@herald/identity"
import type { SubjectPattern } from "@herald/subject"
import type { Bus, Envelope } from "@herald/transport"
import { Foreign, Millis, TransportError, Wire } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Inbound, Server, Subscription } from "./server.ts"
import { error, validatePattern, validateSubject } from "./util.ts"

const defaultBufferSize = 65_536
const defaultRequestTimeoutMs = 5_000

const defaultOnInvalid = (subject: string, e: TransportError.TransportError): Effect.Effect<void> =>
  Effect.logWarning(`memory transport: dropped a message on ${subject} that is not a valid envelope: ${e.message}`)

/**
 * A readable description of a failed handler's cause.
 *
 * @since 0.1.0
 * @internal
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return TransportError.describe(failure.success)
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  return TransportError.describe(Cause.squash(cause))
}

/**
 * Builds the Bus service over a server.
 *
 * @since 0.1.0
 * @internal
 */
export const make = (server: Server): Bus.Bus["Service"] => {
  const publishRaw = (subject: string, message: Wire.RawMessage) =>
    Effect.suspend(() => Effect.fromResult(server.publish(subject, message)))

  const publish = (subject: string, envelope: Envelope.Envelope) =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      return Effect.fromResult(server.publish(subject, raw.success))
    })

  /** The envelope of an inbound message, accepting a foreign one when asked to. */
  const accept = (
    message: Inbound,
    foreign: Foreign.Options | undefined,
    kind: Envelope.Kind,
    inReplyTo?: Envelope.Envelope["identity"]
  ): Result.Result<Envelope.Envelope, TransportError.TransportError> =>
    foreign === undefined || Result.isSuccess(message.decoded)
      ? message.decoded
      : Foreign.decodeRaw(message.raw, foreign, () => ({
        subject: message.subject,
        kind,
        fallbackId: () => server.newId("foreign"),
        now: server.now(),
        inReplyTo
      }))

  const subscribe = (
    pattern: string,
    options?: Bus.SubscribeOptions
  ): Effect.Effect<Stream.Stream<Bus.Received>, TransportError.TransportError, Scope.Scope> =>
    subscribeAs(pattern, options, "event")

  const subscribeAs = (
    pattern: string,
    options: Bus.SubscribeOptions | undefined,
    kind: Envelope.Kind
  ): Effect.Effect<Stream.Stream<Bus.Received>, TransportError.TransportError, Scope.Scope> =>
    Effect.gen(function*() {
      const valid = validatePattern(pattern)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
      if (server.closed) {
        return yield* Effect.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
      }
      const requested = options?.bufferSize
      const bufferSize = requested !== undefined && Number.isFinite(requested) && requested >= 1
        ? Math.floor(requested)
        : defaultBufferSize
      const onInvalid = options?.onInvalid ?? defaultOnInvalid
      const queue = yield* Queue.sliding<Inbound, Cause.Done>(bufferSize)
      const subscription: Subscription = {
        pattern: valid.success,
        queue: options?.queue === undefined || options.queue === "" ? undefined : options.queue,
        push: (message) => {
          Queue.offerUnsafe(queue, message)
        }
      }
      server.addSubscription(subscription)
      const unregister = server.onClose(() => {
        Queue.endUnsafe(queue)
      })
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          server.removeSubscription(subscription)
          unregister()
          Queue.endUnsafe(queue)
        })
      )
      return Stream.fromQueue(queue).pipe(
        Stream.filterMapEffect((message: Inbound) => {
          const decoded = accept(message, options?.foreign, kind)
          return Result.isSuccess(decoded)
            ? Effect.succeed(Result.succeed<Bus.Received>({
              subject: message.subject,
              envelope: decoded.success,
              replyTo: message.replyTo
            }))
            : Effect.as(onInvalid(message.subject, decoded.failure), Result.fail(message))
        })
      )
    })

  const request = (subject: string, envelope: Envelope.Envelope, options?: Bus.RequestOptions) =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      const timeoutMs = Millis.orElse(options?.timeout, defaultRequestTimeoutMs, { min: 1 })
      if (!server.hasSubscribers(subject)) {
        return Effect.fail(error(new TransportError.NoResponders({ subject })))
      }
      const inbox = server.newInbox()
      const reply = Deferred.makeUnsafe<Inbound>()
      const subscription: Subscription = {
        pattern: inbox as SubjectPattern.SubjectPattern,
        queue: undefined,
        push: (message) => {
          Deferred.doneUnsafe(reply, Effect.succeed(message))
        }
      }
      return Effect.acquireUseRelease(
        Effect.sync(() => server.addSubscription(subscription)),
        () =>
          Effect.suspend(() => {
            const sent = server.publish(subject, raw.success, inbox)
            if (Result.isFailure(sent)) return Effect.fail(sent.failure)
            return Effect.raceFirst(
              Effect.map(Deferred.await(reply), Option.some),
              Effect.as(server.sleep(timeoutMs), Option.none<Inbound>())
            )
          }),
        () => Effect.sync(() => server.removeSubscription(subscription))
      ).pipe(
        Effect.flatMap((answer): Effect.Effect<Envelope.Envelope, TransportError.TransportError> => {
          if (Option.isNone(answer)) {
            return Effect.fail(
              error(new TransportError.Timeout({ operation: `request on ${subject}`, millis: timeoutMs }))
            )
          }
          const remote = Wire.header(answer.value.raw, Wire.HeaderNames.error)
          if (remote !== undefined) {
            return Effect.fail(error(new TransportError.RemoteError({ subject, detail: remote })))
          }
          return Effect.fromResult(accept(answer.value, options?.foreign, "reply", envelope.identity))
        })
      )
    })

  const errorReply = (request: Bus.Received, detail: string): Wire.RawMessage =>
    Wire.errorReply({
      request: request.envelope,
      id: server.newId("herald-error") as Ids.MessageId,
      occurredAt: server.now(),
      detail
    })

  const serve = <E, R>(
    pattern: string,
    handler: (request: Bus.Received) => Effect.Effect<Envelope.Envelope, E, R>,
    options?: Bus.ServeOptions
  ): Effect.Effect<void, TransportError.TransportError, Scope.Scope | R> =>
    Effect.gen(function*() {
      const requests = yield* subscribeAs(pattern, { queue: options?.queue, foreign: options?.foreign }, "query")
      const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
      // A message without a reply subject is no request: it is not handled.
      const answer = (request: Bus.Received) => {
        const replyTo = request.replyTo
        if (replyTo === undefined) return Effect.void
        return Effect.flatMap(Effect.exit(handler(request)), (exit) => {
          let reply: Wire.RawMessage
          if (Exit.isSuccess(exit)) {
            const encoded = Wire.encode(exit.value)
            reply = Result.isSuccess(encoded)
              ? encoded.success
              : errorReply(request, `cannot encode the reply: ${encoded.failure.message}`)
          } else {
            if (Cause.hasInterruptsOnly(exit.cause)) return Effect.void
            reply = errorReply(request, describeCause(exit.cause))
          }
          const sent = server.publish(replyTo, reply)
          return Result.isFailure(sent)
            ? Effect.logWarning(`memory transport: cannot reply on ${replyTo}: ${sent.failure.message}`)
            : Effect.void
        })
      }
      yield* requests.pipe(
        Stream.mapEffect(answer, { concurrency, unordered: true }),
        Stream.runDrain,
        Effect.forkScoped
      )
    })

  return { publish, publishRaw, subscribe, request, serve }
}
