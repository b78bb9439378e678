/**
 * The `Bus` over core NATS: publish, subscribe, request/reply and serve with
 * nats.js.
 *
 * @since 0.1.0
 * @internal
 */
import { IdGenerator, type Ids } from "@herald/identity"
import { type Bus, type Envelope, type Foreign, Millis, TransportError, Wire } from "@herald/transport"
import { errors as natsErrors, type Msg, type Status } from "@nats-io/nats-core"
import type { QueuedIteratorImpl } from "@nats-io/nats-core/internal"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as NatsConnection from "../../NatsConnection.ts"
import * as Errors from "../errors.ts"
import { subscribeQueue, subscribeRaw } from "./subscribe.ts"
import { checkSize, decode, decodeAccepting, headersOf, toHeaders, validateHeaders, validateSubject } from "./wire.ts"

const defaultBufferSize = 65_536
const defaultRequestTimeoutMillis = 5_000
/** Subjects whose publish permission is remembered, per connection. */
const checkedSubjectsMax = 10_000

const defaultOnInvalid = (subject: string, e: TransportError.TransportError): Effect.Effect<void> =>
  Effect.logWarning(`NatsBus: dropped a message on ${subject} that is not a valid envelope: ${e.message}`)

/**
 * A readable description of a failed handler's cause: its first typed
 * failure, else its defect. Matches the in-memory transport's, so that
 * `RemoteError` details read the same on both.
 *
 * @internal
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return TransportError.describe(failure.success)
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  return TransportError.describe(Cause.squash(cause))
}

/**
 * Builds the Bus service over a connection.
 *
 * @internal
 */
export const make = Effect.fnUntraced(function*(connection: NatsConnection.NatsConnection["Service"]) {
  const client = connection.client
  const ids = yield* IdGenerator.makeUuidV7
  const clock = yield* Clock.Clock
  const maxPayload = () => client.info?.max_payload ?? connection.server.maxPayload

  // Publish permissions. The server refuses a publish it does not permit
  // with an asynchronous `-ERR 'Permissions Violation for Publish to "s"'`
  // that names the subject only, and before the answer to any PING sent
  // after it. The first publish to a subject therefore waits for a flush and
  // fails with `PermissionDenied` when the refusal came first; the answer is
  // remembered per subject (bounded, forgotten on reconnect), so later
  // publishes to it are sent at once, or refused at once.
  const allowed = new Set<string>()
  const denied = new Set<string>()
  const remember = (set: Set<string>, subject: string) => {
    if (set.size >= checkedSubjectsMax) set.delete(set.values().next().value!)
    set.add(subject)
  }
  // The status iterator is read synchronously, as nats.js parses: a refusal
  // is recorded before the flush that follows it resolves.
  const statusHook = client.status() as QueuedIteratorImpl<Status>
  statusHook.push = (status) => {
    if (typeof status === "function") return
    if (status.type === "reconnect") {
      allowed.clear()
      denied.clear()
    } else if (
      status.type === "error" && status.error instanceof natsErrors.PermissionViolationError &&
      status.error.operation === "publish"
    ) {
      allowed.delete(status.error.subject)
      remember(denied, status.error.subject)
    }
  }
  yield* Effect.addFinalizer(() => Effect.sync(() => statusHook.stop()))
  const deniedError = (subject: string) =>
    TransportError.make(new TransportError.PermissionDenied({ operation: "publish", subject }))
  const confirmMillis = connection.jetstreamTimeoutMillis
  /** Waits for the server to have read what was sent; whether it refused `subject`. */
  const confirm = (subject: string): Effect.Effect<void, TransportError.TransportError> =>
    Effect.callback<void, TransportError.TransportError>((resume) => {
      let settled = false
      const settle = (confirmed: boolean) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (denied.has(subject)) return resume(Effect.fail(deniedError(subject)))
        // Unconfirmed (no answer in time, a reconnect): sent at most once, as any core publish.
        if (confirmed) remember(allowed, subject)
        resume(Effect.void)
      }
      const timer = setTimeout(() => settle(false), confirmMillis)
      client.flush().then(() => settle(true), () => settle(false))
      return Effect.sync(() => {
        settled = true
        clearTimeout(timer)
      })
    })

  /**
   * Sends a raw message that passed validation. A reply (`confirm: false`)
   * goes to a subject used once: it is not confirmed nor remembered.
   */
  const send = (
    subject: string,
    raw: Wire.RawMessage,
    operation: string,
    confirmFirst = true
  ): Effect.Effect<void, TransportError.TransportError> =>
    Effect.suspend(() => {
      const size = checkSize(raw, maxPayload())
      if (Result.isFailure(size)) return Effect.fail(size.failure)
      if (denied.has(subject)) return Effect.fail(deniedError(subject))
      const headers = toHeaders(raw)
      try {
        client.publish(subject, raw.body, headers === undefined ? undefined : { headers })
      } catch (e) {
        return Effect.fail(Errors.fromUnknown(e, { operation, subject }))
      }
      return !confirmFirst || allowed.has(subject) ? Effect.void : confirm(subject)
    })

  // Spans: the per-message methods (`publish`, `publishRaw`, `request`) have
  // none (plain functions returning a suspended effect): a span and a
  // call-site capture per message cost about 3.2 µs each (bench/README.md,
  // finding 4), more than the rest of a publish. The set-up methods
  // (`subscribe`, `serve`) keep their spans.
  const publish = (subject: string, envelope: Envelope.Envelope): Effect.Effect<void, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      return send(subject, raw.success, `publish on ${subject}`)
    })

  const publishRaw = (subject: string, message: Wire.RawMessage): Effect.Effect<void, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const headers = validateHeaders(message)
      if (Result.isFailure(headers)) return Effect.fail(headers.failure)
      return send(subject, message, `publish on ${subject}`)
    })

  /** Where a foreign message was received: its subject, a fresh id, the time now. */
  const foreignContext = (msg: Msg, kind: Envelope.Kind, inReplyTo?: Envelope.Envelope["identity"]) => (): Foreign.Context => ({
    subject: msg.subject,
    kind,
    fallbackId: () => crypto.randomUUID(),
    now: clock.currentTimeMillisUnsafe(),
    inReplyTo
  })

  const subscribeMsgs = (pattern: string, queue: string | undefined, bufferSize: number) =>
    subscribeRaw(connection, pattern, { queue, bufferSize })

  /**
   * Decodes the messages of a subscription: valid envelopes are emitted, the
   * others go to `onInvalid` (in arrival order) and are dropped. One stage,
   * pure a chunk at a time: an Effect runs only for a chunk that holds an
   * invalid message (an Effect per message cost more than the decoding).
   */
  const received = (
    msgs: Stream.Stream<Msg, TransportError.TransportError>,
    onInvalid: NonNullable<Bus.SubscribeOptions["onInvalid"]>,
    foreign: Foreign.Options | undefined
  ) =>
    Stream.transformPull(msgs, (pull) =>
      Effect.succeed(Effect.flatMap(pull, function loop(
        chunk
      ): Pull.Pull<Arr.NonEmptyReadonlyArray<Bus.Received>, TransportError.TransportError> {
        const out: Array<Bus.Received> = []
        let invalid: Array<readonly [string, TransportError.TransportError]> | undefined
        for (let i = 0; i < chunk.length; i++) {
          const msg = chunk[i]!
          const decoded = foreign === undefined ? decode(msg) : decodeAccepting(msg, foreign, foreignContext(msg, "event"))
          if (Result.isSuccess(decoded)) {
            out.push({
              subject: msg.subject,
              envelope: decoded.success,
              replyTo: msg.reply === undefined || msg.reply === "" ? undefined : msg.reply
            })
          } else {
            ;(invalid ??= []).push([msg.subject, decoded.failure])
          }
        }
        const next = Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : Effect.flatMap(pull, loop)
        return invalid === undefined
          ? next
          : Effect.andThen(Effect.forEach(invalid, ([subject, e]) => onInvalid(subject, e), { discard: true }), next)
      })))

  const subscribe = Effect.fn("NatsBus.subscribe")(function*(pattern: string, options?: Bus.SubscribeOptions) {
    const requested = options?.bufferSize
    const bufferSize = requested !== undefined && Number.isFinite(requested) && requested >= 1
      ? Math.floor(requested)
      : defaultBufferSize
    const queue = options?.queue === undefined || options.queue === "" ? undefined : options.queue
    const msgs = yield* subscribeMsgs(pattern, queue, bufferSize)
    return received(msgs, options?.onInvalid ?? defaultOnInvalid, options?.foreign)
  })

  /** The envelope of a reply, or why there is none. */
  const replyOf = (
    subject: string,
    reply: Msg,
    request: Envelope.Envelope,
    foreign: Foreign.Options | undefined
  ): Effect.Effect<Envelope.Envelope, TransportError.TransportError> => {
    const headers = headersOf(reply)
    const remote = headers.get(Wire.HeaderNames.error)
    if (remote !== undefined) {
      return Effect.fail(TransportError.make(new TransportError.RemoteError({ subject, detail: remote })))
    }
    const decoded = foreign === undefined
      ? decode(reply, headers)
      : decodeAccepting(reply, foreign, foreignContext(reply, "reply", request.identity))
    return Result.isFailure(decoded) ? Effect.fail(decoded.failure) : Effect.succeed(decoded.success)
  }

  const request = (
    subject: string,
    envelope: Envelope.Envelope,
    options?: Bus.RequestOptions
  ): Effect.Effect<Envelope.Envelope, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      const size = checkSize(raw.success, maxPayload())
      if (Result.isFailure(size)) return Effect.fail(size.failure)
      const timeout = Millis.orElse(options?.timeout, defaultRequestTimeoutMillis, { min: 1 })
      const headers = toHeaders(raw.success)
      const operation = `request on ${subject}`
      return Effect.flatMap(
        Effect.tryPromise({
          try: () =>
            client.request(subject, raw.success.body, { timeout, ...(headers === undefined ? {} : { headers }) }),
          catch: (e) => Errors.fromUnknown(e, { operation, subject, timeoutMillis: timeout })
        }),
        (reply) => replyOf(subject, reply, envelope, options?.foreign)
      )
    })

  /** The reply that tells the requester the handler failed (`RemoteError` there). */
  const errorReply = (request: Bus.Received, detail: string) =>
    Effect.gen(function*() {
      const id: Ids.MessageId = yield* ids.next
      return Wire.errorReply({ request: request.envelope, id, occurredAt: yield* Clock.currentTimeMillis, detail })
    })

  const serve = Effect.fn("NatsBus.serve")(function*<E, R>(
    pattern: string,
    handler: (request: Bus.Received) => Effect.Effect<Envelope.Envelope, E, R>,
    options?: Bus.ServeOptions
  ): Effect.fn.Return<void, TransportError.TransportError, Scope.Scope | R> {
    const queue = options?.queue === undefined || options.queue === "" ? undefined : options.queue
    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
    const msgs = yield* subscribeQueue(connection, pattern, { queue, bufferSize: defaultBufferSize })
    const reply = (request: Bus.Received, replyTo: string, raw: Wire.RawMessage) =>
      send(replyTo, raw, `reply on ${replyTo}`, false).pipe(
        Effect.catch((e) =>
          e.reason._tag === "MessageTooLarge"
            ? Effect.flatMap(
              errorReply(request, `cannot send the reply: ${e.message}`),
              (fallback) => send(replyTo, fallback, `reply on ${replyTo}`, false)
            )
            : Effect.fail(e)
        ),
        Effect.catch((e) => {
          const message = `NatsBus: cannot reply on ${replyTo} to a request on ${request.subject}: ${e.message}`
          // A connection that is closing is shutdown, not a failure worth a warning.
          return e.reason._tag === "Closed" ? Effect.logDebug(message) : Effect.logWarning(message)
        })
      )
    const answer = (request: Bus.Received): Effect.Effect<void, never, R> => {
      const replyTo = request.replyTo
      // A message without a reply subject is not a request: nobody waits.
      if (replyTo === undefined) return Effect.void
      return Effect.flatMap(Effect.exit(handler(request)), (exit) => {
        if (Exit.isSuccess(exit)) {
          const encoded = Wire.encode(exit.value)
          return Result.isSuccess(encoded)
            ? reply(request, replyTo, encoded.success)
            : Effect.flatMap(
              errorReply(request, `cannot encode the reply: ${encoded.failure.message}`),
              (raw) => reply(request, replyTo, raw)
            )
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return Effect.void
        return Effect.flatMap(errorReply(request, describeCause(exit.cause)), (raw) => reply(request, replyTo, raw))
      })
    }
    const foreign = options?.foreign
    const take = (msg: Msg): Effect.Effect<void, never, R> => {
      const decoded = foreign === undefined ? decode(msg) : decodeAccepting(msg, foreign, foreignContext(msg, "query"))
      if (Result.isFailure(decoded)) return defaultOnInvalid(msg.subject, decoded.failure)
      return answer({
        subject: msg.subject,
        envelope: decoded.success,
        replyTo: msg.reply === undefined || msg.reply === "" ? undefined : msg.reply
      })
    }
    // `concurrency` workers take the requests in arrival order, each answering
    // one at a time (a loop over the subscription's queue: no stream stages
    // per request), until the subscription ends.
    const worker = Effect.forever(Effect.flatMap(Queue.take(msgs), take), { disableYield: true }).pipe(
      Effect.catch((e) =>
        TransportError.isTransportError(e)
          ? Effect.logWarning(`NatsBus: serving ${pattern} stopped: ${e.message}`)
          : Effect.void
      )
    )
    yield* Effect.forkScoped(
      concurrency === 1
        ? worker
        : Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
    )
  })

  return { publish, publishRaw, subscribe, request, serve } satisfies Bus.Bus["Service"]
})
