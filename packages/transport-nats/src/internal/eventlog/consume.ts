/**
 * The consumer runner behind `EventLog.consume`.
 *
 * A pump fiber keeps a pull request open on the consumer so that the
 * deliveries the runner holds (queued or being handled) plus those still
 * requested never exceed its bound (`maxAckPending`, default 10 ×
 * concurrency, at most the consumer's `max_ack_pending`); it opens the next
 * request once a quarter of the bound is free (as nats.js `consume()` does),
 * so that a request asks for a batch, not for the one message just settled.
 * Deliveries go from the inbox's callback straight to the work queue;
 * `concurrency` worker fibers take them in arrival order (with one worker:
 * strictly in stream order) and settle each with `ConsumerPolicy`.
 *
 * A handler that succeeded is acked in the background (`acks.ts`): the
 * worker sends the ack and takes the next delivery; the ack counts in
 * `stats.acked` once the server confirmed it, and a failed confirmation is
 * logged (the message comes back after its ack wait). Settlements the
 * handler makes itself (`delivery.ack`, ...), naks and terms stay confirmed
 * before the worker goes on.
 *
 * Health: each pull request asks for idle heartbeats. When neither a
 * delivery nor a heartbeat came for two heartbeats, when the server ends a
 * request with `409 Consumer Deleted`, and after a reconnect, the runner
 * looks the consumer up and starts over with fresh requests. A consumer or
 * stream that is missing (deleted, or a memory stream lost in a restart of
 * nats-server 2.9, after which the server reports it not found forever) is
 * looked up again with backoff while the grace period lasts; the runner
 * never recreates topology (the `Topology` layer owns it). When it stays
 * missing, `await` fails with `ConsumerNotFound` or `StreamNotFound`. While
 * the server cannot be reached the runner waits for the connection. Each
 * change of state is logged.
 *
 * Shutdown (the scope closes): the inbox is drained (no new deliveries),
 * deliveries not yet handed to a handler are nak'd at once, handlers in
 * flight may finish within `shutdownTimeout`, and those still running are
 * then interrupted and their deliveries nak'd, and then the runner waits
 * (at most the settle timeout) for the confirmations of its background acks.
 * A delivery is settled once.
 *
 * @since 0.1.0
 * @internal
 */
import { ConsumerPolicy, type EventLog, TransportError } from "@herald/transport"
import { createInbox, type Msg } from "@nats-io/nats-core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { validateSubject } from "../bus/wire.ts"
import * as Errors from "../errors.ts"
import * as Acks from "./acks.ts"
import { store, undecodable } from "./deadLetters.ts"
import * as Delivery from "./delivery.ts"
import { consumerInfo, type Env, keyOf } from "./env.ts"
import { encodeRequest, nextSubject } from "./inbox.ts"
import { StatusCodes, statusOf } from "./message.ts"
import { validateNames } from "./pull.ts"
import { type ConsumerSettings, millisOf, settingsOf } from "./util.ts"

const defaultShutdownMillis = 10_000
const drainMillis = 2_000

interface MutableStats {
  acked: number
  naked: number
  termed: number
  deadLettered: number
  inFlight: number
}

type PumpEvent =
  | { readonly _tag: "Inbox"; readonly msg: Msg }
  | { readonly _tag: "Connection"; readonly up: boolean }
  | { readonly _tag: "SubscriptionError"; readonly error: unknown }
  | { readonly _tag: "Wake" }

interface OpenRequest {
  readonly reply: string
  remaining: number
  readonly expiresAt: number
}

type Health = "ok" | "missing" | "unavailable"

/**
 * What a handler's failure counts as: its typed failure; an interruption or
 * a defect is a retryable `HandlerFailed`.
 */
const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return failure.success
  if (Cause.hasInterruptsOnly(cause)) {
    return TransportError.make(new TransportError.HandlerFailed({ detail: "handler interrupted", retryable: true }))
  }
  const defect = Cause.squash(cause)
  return TransportError.make(
    new TransportError.HandlerFailed({
      detail: `handler defect: ${TransportError.describe(defect)}`,
      retryable: true,
      cause: defect
    })
  )
}

const backoffMillis = (attempt: number): number => Math.min(2_000, 250 * 2 ** Math.min(attempt, 4))

/** Background acks waiting for their confirmation, at most (and at least the runner's bound). */
const minUnconfirmed = 256

/**
 * Runs a handler over a durable consumer until the scope closes.
 *
 * @internal
 */
export const make = (env: Env) =>
<E, R>(
  stream: string,
  consumer: string,
  handler: (delivery: EventLog.Delivery) => Effect.Effect<void, E, R>,
  options?: EventLog.ConsumeOptions
): Effect.Effect<EventLog.ConsumerHandle, TransportError.TransportError, Scope.Scope | R> =>
  Effect.gen(function*() {
    yield* validateNames(stream, consumer)
    const override = options?.deadLetterSubject
    const foreign = options?.foreign
    if (override !== undefined) {
      const valid = validateSubject(override)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    }
    const key = keyOf(stream, consumer)
    const client = env.connection.client
    const tuning = env.options
    let settings: ConsumerSettings = settingsOf(stream, consumer, yield* consumerInfo(env, stream, consumer))

    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
    const clientMax = Math.max(1, Math.floor(options?.maxAckPending ?? 10 * concurrency))
    const limitOf = (s: ConsumerSettings) => Math.max(1, Math.min(clientMax, s.maxAckPending ?? Number.POSITIVE_INFINITY))
    let limit = limitOf(settings)
    const workers = Math.max(1, Math.min(concurrency, limit))
    const shutdownMillis = millisOf(options?.shutdownTimeout, defaultShutdownMillis)
    const nakDelay = options?.nakDelay ??
      ((n: number): Duration.Input => ConsumerPolicy.defaultNakDelay(settings.config, n))
    const deadLetterSubject = () => override ?? env.overrides.get(key) ?? settings.deadLetterSubject
    const stats: MutableStats = { acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0 }
    const count = (settlement: Delivery.Settlement) => {
      stats[settlement]++
    }
    const failure = Deferred.makeUnsafe<never, TransportError.TransportError>()
    let stopping = false
    const label = `NatsEventLog consumer ${stream}/${consumer}`

    if (override !== undefined) {
      // The advisory listener dead-letters into the override while this runner lives.
      yield* Effect.acquireRelease(
        Effect.sync(() => env.overrides.set(key, override)),
        () =>
          Effect.sync(() => {
            if (env.overrides.get(key) === override) env.overrides.delete(key)
          })
      )
    }
    yield* env.watchAdvisories(stream, consumer)

    const events = yield* Queue.unbounded<PumpEvent>()
    const work = yield* Queue.unbounded<Delivery.Received, Cause.Done>()
    const acks = yield* Acks.make(env.settle, label, Math.max(minUnconfirmed, limit))

    // The pump's state. The inbox callback and the workers change `request`
    // and `held` between the pump's steps (one thread: never during one).
    /** The open pull request (one at a time: see `pump`). */
    let request: OpenRequest | undefined = undefined
    /** Deliveries queued or being handled. */
    let held = 0
    /** Deliveries received by the callback (the pump notes when it changes). */
    let seen = 0
    /** A `Wake` is in the pump's queue. */
    let woken = false
    const wake = () => {
      if (woken) return
      woken = true
      Queue.offerUnsafe(events, { _tag: "Wake" })
    }
    /** Free room worth a pull request: a quarter of the bound (nats.js `consume()` refills at 25 %). */
    const refillAt = () => Math.max(1, Math.floor(limit / 4))
    const wakeToRefill = () => {
      if (request === undefined && limit - held >= refillAt()) wake()
    }

    const prefix = createInbox()
    const subscription = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          client.subscribe(`${prefix}.*`, {
            callback: (err, msg) => {
              if (err !== null) {
                Queue.offerUnsafe(events, { _tag: "SubscriptionError", error: err })
                return
              }
              // Status messages, and anything once stopping, go to the pump.
              if (stopping || statusOf(msg) !== undefined) {
                Queue.offerUnsafe(events, { _tag: "Inbox", msg })
                return
              }
              seen++
              const received = Delivery.receive(msg)
              if (received === undefined) return
              held++
              Queue.offerUnsafe(work, received)
              const open = request
              if (open !== undefined && --open.remaining <= 0) {
                request = undefined
                wakeToRefill()
              }
            }
          }),
        catch: (e) => Errors.fromUnknown(e, { operation: `consume ${stream}/${consumer}`, stream, consumer })
      }),
      (sub) => Effect.ignore(Effect.try(() => (client.isClosed() ? undefined : sub.unsubscribe())))
    )
    const release = () => {
      held = Math.max(0, held - 1)
      wakeToRefill()
    }

    const giveBack = (received: ReadonlyArray<Delivery.Received>) =>
      Effect.forEach(
        received,
        (r) =>
          Delivery.settleRaw(env.settle, r, "nak").pipe(
            Effect.tap(() => Effect.sync(() => void stats.naked++)),
            Effect.ignore
          ),
        { concurrency: 16, discard: true }
      )

    // A failed runner starts no more handlers: the deliveries no handler has
    // taken go back to the server, and the workers stop once the queue is
    // empty. Handlers already running may finish.
    const fail = (error: TransportError.TransportError) =>
      Effect.gen(function*() {
        yield* Effect.logError(`${label}: stopped: ${error.message}`)
        yield* Deferred.fail(failure, error)
        // Deliveries still arriving go to the pump, which gives them back.
        stopping = true
        const queued = yield* Queue.clear(work)
        Queue.endUnsafe(work)
        yield* giveBack(queued)
      })

    // -------------------------------------------------------------------------
    // pump: pull requests, health
    // -------------------------------------------------------------------------

    const pump = Effect.gen(function*() {
      // One pull request open at a time: JetStream sends a delivery with the
      // message's own subject, not the request's reply subject, so
      // deliveries cannot be told apart by request; status messages can.
      const subject = nextSubject(stream, consumer)
      let counter = 0
      let lastSeen = yield* Clock.currentTimeMillis
      let seenAt = seen
      let health: Health = "ok"
      let missingSince: number | undefined = undefined
      let attempt = 0
      let nextCheckAt = 0
      let connected = true
      let checkReason: string | undefined = undefined
      const missedAfter = tuning.heartbeatMillis * 2 + 500

      /** Opens a request when enough room is free; `false` when the connection is closed. */
      const refill = (now: number) =>
        Effect.suspend(() => {
          const free = limit - held
          if (request !== undefined || free < refillAt()) return Effect.succeed(true)
          const reply = `${prefix}.${++counter}`
          return Effect.try({
            try: () =>
              client.publish(
                subject,
                encodeRequest({ batch: free, expires: tuning.pullExpiresMillis, heartbeat: tuning.heartbeatMillis }),
                { reply }
              ),
            catch: (e) => Errors.fromUnknown(e, { operation: `pull ${stream}/${consumer}`, stream, consumer })
          }).pipe(
            Effect.map(() => {
              lastSeen = now
              request = { reply, remaining: free, expiresAt: now + tuning.pullExpiresMillis }
              return true
            }),
            Effect.catch((e) => Effect.as(fail(e), false))
          )
        })

      /** Looks the consumer up; `true` when the runner must stop. */
      const check = (reason: string, now: number) =>
        Effect.gen(function*() {
          request = undefined
          const result = yield* Effect.result(consumerInfo(env, stream, consumer, tuning.checkTimeoutMillis))
          if (Result.isSuccess(result)) {
            settings = settingsOf(stream, consumer, result.success)
            limit = limitOf(settings)
            if (health !== "ok") yield* Effect.logInfo(`${label}: consumer found again (${reason}); pulling`)
            else yield* Effect.logDebug(`${label}: consumer checked (${reason}); pulling again`)
            health = "ok"
            missingSince = undefined
            attempt = 0
            lastSeen = yield* Clock.currentTimeMillis
            return false
          }
          const error = result.failure
          const tag = error.reason._tag
          if (tag === "Closed") {
            yield* fail(error)
            return true
          }
          if (tag === "ConsumerNotFound" || tag === "StreamNotFound") {
            if (missingSince === undefined) {
              missingSince = now
              yield* Effect.logWarning(
                `${label}: ${error.message} (${reason}); retrying for up to ${tuning.missingGraceMillis} ms`
              )
            }
            health = "missing"
            if (now - missingSince >= tuning.missingGraceMillis) {
              yield* fail(error)
              return true
            }
          } else if (health === "ok") {
            health = "unavailable"
            yield* Effect.logWarning(`${label}: cannot check the consumer (${reason}): ${error.message}; retrying`)
          }
          nextCheckAt = now + backoffMillis(attempt++)
          return false
        })

      const onInbox = (msg: Msg, now: number) =>
        Effect.suspend(() => {
          lastSeen = now
          const status = statusOf(msg)
          if (status === undefined) {
            const received = Delivery.receive(msg)
            if (received === undefined) return Effect.void
            if (request !== undefined && --request.remaining <= 0) request = undefined
            if (stopping) {
              return Effect.ignore(Delivery.settleRaw(env.settle, received, "nak")).pipe(
                Effect.tap(() => Effect.sync(() => void stats.naked++))
              )
            }
            held++
            Queue.offerUnsafe(work, received)
            return Effect.void
          }
          switch (status.code) {
            case StatusCodes.heartbeat:
              return Effect.void
            case StatusCodes.noMessages:
            case StatusCodes.timeout:
              if (msg.subject === request?.reply) request = undefined
              return Effect.void
            case StatusCodes.conflict:
              if (msg.subject === request?.reply) request = undefined
              if (/consumer deleted/i.test(status.description)) checkReason = "the server reported the consumer deleted"
              return Effect.logDebug(`${label}: pull request ended: ${status.code} ${status.description}`)
            case StatusCodes.noResponders:
              if (msg.subject === request?.reply) request = undefined
              checkReason = "no responders for the pull request"
              return Effect.void
            case StatusCodes.badRequest:
              if (msg.subject === request?.reply) request = undefined
              return fail(
                TransportError.make(
                  new TransportError.Unknown({
                    detail: `consume ${stream}/${consumer}: the server refused a pull request: ${status.code} ${status.description}`
                  })
                )
              )
            default:
              return Effect.logDebug(`${label}: pull status ${status.code} ${status.description}`)
          }
        })

      while (!(yield* Deferred.isDone(failure))) {
        let now = yield* Clock.currentTimeMillis
        if (!stopping) {
          if (checkReason !== undefined || (health !== "ok" && connected && now >= nextCheckAt)) {
            const reason = checkReason ?? "retry"
            checkReason = undefined
            if (yield* check(reason, now)) return
            now = yield* Clock.currentTimeMillis
          }
          if (health === "ok" && connected && !(yield* refill(now))) return
        }
        const wait: number = health === "ok" || !connected
          ? tuning.heartbeatMillis
          : Math.min(tuning.heartbeatMillis, nextCheckAt - now)
        const event: Option.Option<PumpEvent> = yield* Effect.timeoutOption(Queue.take(events), Math.max(1, wait))
        now = yield* Clock.currentTimeMillis
        if (Option.isSome(event)) {
          const e: PumpEvent = event.value
          switch (e._tag) {
            case "Inbox":
              yield* onInbox(e.msg, now)
              break
            case "Connection":
              request = undefined
              connected = e.up
              if (e.up) checkReason = "reconnected"
              yield* Effect.logInfo(`${label}: connection ${e.up ? "back" : "lost"}`)
              break
            case "SubscriptionError":
              yield* fail(Errors.fromUnknown(e.error, { operation: `consume ${stream}/${consumer}`, stream, consumer }))
              return
            case "Wake":
              woken = false
              break
          }
        }
        // Deliveries the callback took since the last step.
        if (seen !== seenAt) {
          seenAt = seen
          lastSeen = now
        }
        if (stopping || !connected || health !== "ok") continue
        // (Read through a cast: the callbacks above change it.)
        const open = request as OpenRequest | undefined
        if (open === undefined) continue
        if (now - lastSeen > missedAfter && checkReason === undefined) {
          yield* Effect.logWarning(`${label}: no delivery nor heartbeat for ${now - lastSeen} ms; checking the consumer`)
          checkReason = "heartbeats missed"
        } else if (now > open.expiresAt + missedAfter) {
          // The server should have ended it with a 408 by now.
          request = undefined
        }
      }
    })

    // -------------------------------------------------------------------------
    // workers: handlers and settlement
    // -------------------------------------------------------------------------

    const settleFailure = (handle: Delivery.Handle, cause: Cause.Cause<E>) =>
      Effect.gen(function*() {
        const { delivery, received } = handle
        const deliveryCount = delivery.deliveryCount
        const decision = ConsumerPolicy.decide({
          error: failureOf(cause),
          deliveryCount,
          maxDeliver: settings.maxDeliver,
          nakDelay
        })
        if (decision._tag === "Nak") return yield* delivery.nak(decision.delay)
        const subject = deadLetterSubject()
        const stored = yield* Effect.result(store(env, {
          subject,
          raw: delivery.raw,
          reason: decision.reason,
          stream,
          consumer,
          sequence: delivery.streamSequence,
          originalSubject: received.msg.subject,
          deliveryCount
        }))
        if (Result.isSuccess(stored)) {
          stats.deadLettered++
          return yield* delivery.term(decision.reason)
        }
        yield* Effect.logError(
          `${label}: cannot dead-letter sequence ${delivery.streamSequence} on ${subject}, nak'd instead: ${stored.failure.message}`
        )
        return yield* delivery.nak(millisOf(nakDelay(deliveryCount), 1_000))
      })

    const ackConfirmed = () => {
      stats.acked++
    }

    const logSettleError = (what: string, sequence: number) => (e: TransportError.TransportError) =>
      Effect.logWarning(`${label}: ${what} of sequence ${sequence} failed (redelivered after the ack wait): ${e.message}`)

    /** Settles a delivery whose handler ended (unless the handler settled it itself). */
    const settle = (handle: Delivery.Handle, exit: Exit.Exit<void, E>): Effect.Effect<void> => {
      const sequence = handle.delivery.streamSequence
      if (Exit.isSuccess(exit)) {
        // Acked in the background: counted once the server confirms it.
        if (!handle.claim()) return Effect.void
        return Effect.catch(acks.ack(handle.received, ackConfirmed), (e) => {
          handle.unclaim()
          return logSettleError("ack", sequence)(e)
        })
      }
      if (handle.isSettled()) return Effect.void
      return Effect.catch(settleFailure(handle, exit.cause), logSettleError("settlement", sequence))
    }

    const finished = Effect.sync(() => {
      stats.inFlight--
      release()
    })

    const process = (received: Delivery.Received): Effect.Effect<void, never, R> =>
      Effect.uninterruptibleMask((restore) => {
        const decoded = Delivery.decode(received, foreign)
        if (Result.isFailure(decoded)) {
          return Effect.map(undecodable(env, received, decoded.failure, settings), (outcome) => {
            if (outcome === "deadLettered") {
              stats.deadLettered++
              stats.termed++
            } else if (outcome === "naked") stats.naked++
            release()
          })
        }
        stats.inFlight++
        const handle = Delivery.make(env.settle, received, decoded.success, count)
        // (Suspended: a handler that throws is a defect of its own fiber, a retryable failure.)
        // Started at once: a handler that does not wait for anything is done
        // before the worker goes on, with no hop through the scheduler (the
        // worker then takes the next delivery in the same turn, and the acks
        // of that turn leave in one socket write).
        const run = Effect.forkChild(Effect.suspend(() => handler(handle.delivery)), { startImmediately: true })
        return Effect.flatMap(run, (fiber) => {
          const done = fiber.pollUnsafe()
          if (done !== undefined) return Effect.andThen(settle(handle, done), finished)
          return Effect.flatMap(Effect.exit(restore(Fiber.await(fiber))), (awaited) => {
            if (Exit.isSuccess(awaited)) return Effect.andThen(settle(handle, awaited.value), finished)
            // Shutdown: stop the handler and give the message back.
            return Fiber.interrupt(fiber).pipe(
              Effect.andThen(
                handle.isSettled()
                  ? Effect.void
                  : Effect.catch(handle.delivery.nak(), logSettleError("nak", handle.delivery.streamSequence))
              ),
              Effect.andThen(finished),
              Effect.andThen(Effect.interrupt)
            )
          })
        })
      })

    // A worker ends when the queue ends (shutdown); anything else is a bug of
    // the runner, not of a handler: it stops the runner loudly.
    // (No yield after each delivery: a worker runs until its queue is empty, or
    // until the runtime's op budget makes it yield, so that the acks of the
    // deliveries that arrived together leave together.)
    const worker = Effect.forever(Effect.flatMap(Queue.take(work), process), { disableYield: true }).pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        const failure = Cause.findError(cause)
        if (Result.isSuccess(failure) && Cause.isDone(failure.success)) return Effect.void
        return fail(Errors.fromUnknown(Cause.squash(cause), { operation: `consume ${stream}/${consumer}`, stream, consumer }))
      })
    )

    // -------------------------------------------------------------------------
    // fibers and shutdown
    // -------------------------------------------------------------------------

    const pumpFiber = yield* Effect.forkScoped(
      pump.pipe(Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : fail(Errors.fromUnknown(Cause.squash(cause), { operation: `consume ${stream}/${consumer}`, stream, consumer }))
      ))
    )
    const connectionFiber = yield* Effect.forkScoped(
      Stream.runForEach(env.connection.events, (event) =>
        Effect.sync(() => {
          if (event._tag === "Disconnected") Queue.offerUnsafe(events, { _tag: "Connection", up: false })
          else if (event._tag === "Reconnected") Queue.offerUnsafe(events, { _tag: "Connection", up: true })
        }))
    )
    const workersFiber = yield* Effect.forkScoped(
      Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true })
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        Queue.offerUnsafe(events, { _tag: "Wake" })
        // Stop the flow: the server forgets the open requests once the inbox
        // has no interest; what is already on its way still arrives (the
        // pump naks it).
        if (!client.isClosed()) {
          yield* Effect.tryPromise(() => subscription.drain()).pipe(Effect.timeout(drainMillis), Effect.ignore)
        }
        yield* Fiber.interrupt(pumpFiber)
        yield* Fiber.interrupt(connectionFiber)
        // Deliveries no handler has started: give them back at once.
        const queued = yield* Queue.clear(work)
        const late = (yield* Queue.clear(events)).flatMap((e) => {
          if (e._tag !== "Inbox" || statusOf(e.msg) !== undefined) return []
          const r = Delivery.receive(e.msg)
          return r === undefined ? [] : [r]
        })
        yield* giveBack([...queued, ...late])
        Queue.endUnsafe(work)
        // Handlers in flight may finish, within the shutdown timeout.
        yield* Effect.raceFirst(Effect.asVoid(Fiber.await(workersFiber)), Effect.sleep(shutdownMillis))
        yield* Fiber.interrupt(workersFiber)
        // The background acks: counted once confirmed, before the scope is closed.
        yield* acks.settle(env.settle.timeoutMillis)
      })
    )

    const handle: EventLog.ConsumerHandle = {
      stats: Effect.sync(() => ({ ...stats })),
      await: Deferred.await(failure)
    }
    return handle
  })
