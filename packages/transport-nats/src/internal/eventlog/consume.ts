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
 * strictly in stream order) and settle each with `Settlement`. A delivery
 * is told from a pull request's status by its `$JS.ACK` reply subject: a
 * stored message whose header block is a status line is a delivery (it is
 * dead-lettered as no envelope).
 *
 * The pump is `pump.ts`, the workers `workers.ts`; the state they share is
 * one `Runner` object (`runner.ts`).
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
 * change of state is logged, and shown by the handle's `state` and
 * `changes` (`ConsumerState`: the pump reports `Recovering` and its reason,
 * the workers a handler past its deadline that has not stopped, `fail`
 * the end; `idleWarning` watches for periods without a delivery).
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
import { ConsumerState, EventLog, Millis, TransportError, Wire } from "@herald/transport"
import { createInbox } from "@nats-io/nats-core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { validateSubject } from "../bus/wire.ts"
import * as Errors from "../errors.ts"
import * as Acks from "./acks.ts"
import * as Delivery from "./delivery.ts"
import { consumerInfo, type Env, keyOf } from "./env.ts"
import { statusOf } from "./message.ts"
import { validateNames } from "./pull.ts"
import * as Pump from "./pump.ts"
import { type PumpEvent, Runner } from "./runner.ts"
import { settingsOf } from "./util.ts"
import * as Workers from "./workers.ts"

const defaultShutdownMillis = 10_000
const drainMillis = 2_000

/** Background acks waiting for their confirmation, at most (and at least the runner's bound). */
const minUnconfirmed = 256

/** The `handlerDeadline` option: `undefined` for the default, `"none"`, or milliseconds (a typed error when not a duration). */
const deadlineOf = (
  input: EventLog.ConsumeOptions["handlerDeadline"]
): Result.Result<number | "none" | undefined, TransportError.TransportError> => {
  if (input === undefined || input === "none") return Result.succeed(input)
  const ms = Millis.decode(input, { min: 1 })
  return Result.isSuccess(ms)
    ? Result.succeed(ms.success)
    : Result.fail(
      TransportError.make(
        new TransportError.InvalidConfig({
          detail: `handlerDeadline: ${Wire.oneLine(String(input), 100)} is not a positive duration or "none"`
        })
      )
    )
}

/** The `idleWarning` option: `undefined` for off, or milliseconds (a typed error when not a positive duration). */
const idleWarningOf = (
  input: EventLog.ConsumeOptions["idleWarning"]
): Result.Result<number | undefined, TransportError.TransportError> => {
  if (input === undefined) return Result.succeed(undefined)
  const ms = Millis.decode(input, { min: 1 })
  return Result.isSuccess(ms)
    ? Result.succeed(ms.success)
    : Result.fail(
      TransportError.make(
        new TransportError.InvalidConfig({
          detail: `idleWarning: ${Wire.oneLine(String(input), 100)} is not a positive duration`
        })
      )
    )
}

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
    if (override !== undefined) {
      const valid = validateSubject(override)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    }
    const handlerDeadline = deadlineOf(options?.handlerDeadline)
    if (Result.isFailure(handlerDeadline)) return yield* Effect.fail(handlerDeadline.failure)
    const idleWarning = idleWarningOf(options?.idleWarning)
    if (Result.isFailure(idleWarning)) return yield* Effect.fail(idleWarning.failure)
    const key = keyOf(stream, consumer)
    const client = env.connection.client
    const settings = settingsOf(stream, consumer, yield* consumerInfo(env, stream, consumer))
    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
    const shutdownMillis = Millis.orElse(options?.shutdownTimeout, defaultShutdownMillis)
    const prefix = createInbox()
    // (The runner is made with its tracker: until then nothing is in flight.)
    let made: Runner | undefined = undefined
    const tracker = yield* ConsumerState.makeTracker({
      label: `NatsEventLog consumer ${stream}/${consumer}`,
      clock: yield* Clock.Clock,
      inFlight: () => made?.stats.inFlight ?? 0,
      idleWarningMillis: idleWarning.success
    })
    const runner = new Runner(
      {
        env,
        stream,
        consumer,
        override,
        clientMax: Math.max(1, Math.floor(options?.maxAckPending ?? EventLog.defaultMaxAckPending(concurrency))),
        nakDelay: options?.nakDelay,
        handlerDeadline: handlerDeadline.success,
        foreign: options?.foreign,
        prefix
      },
      settings,
      yield* Queue.unbounded<PumpEvent>(),
      yield* Queue.unbounded<Delivery.Received, Cause.Done>(),
      tracker
    )
    made = runner
    // (Added first, run last: `changes` ends once the runner has shut down.)
    yield* Effect.addFinalizer(() => Effect.sync(tracker.close))
    const workers = Math.max(1, Math.min(concurrency, runner.limit))

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

    const acks = yield* Acks.make(env.settle, runner.label, Math.max(minUnconfirmed, runner.limit))
    const subscription = yield* Effect.acquireRelease(
      Effect.try({
        try: () => client.subscribe(`${prefix}.*`, { callback: (err, msg) => runner.onMessage(err, msg) }),
        catch: (e) => Errors.fromUnknown(e, { operation: `consume ${stream}/${consumer}`, stream, consumer })
      }),
      (sub) => Effect.ignore(Effect.try(() => (client.isClosed() ? undefined : sub.unsubscribe())))
    )

    const pumpFiber = yield* Effect.forkScoped(
      Pump.run(runner).pipe(Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : runner.fail(
            Errors.fromUnknown(Cause.squash(cause), { operation: `consume ${stream}/${consumer}`, stream, consumer })
          )
      ))
    )
    const connectionFiber = yield* Effect.forkScoped(
      Stream.runForEach(env.connection.events, (event) =>
        Effect.sync(() => {
          if (event._tag === "Disconnected") Queue.offerUnsafe(runner.events, { _tag: "Connection", up: false })
          else if (event._tag === "Reconnected") Queue.offerUnsafe(runner.events, { _tag: "Connection", up: true })
        }))
    )
    const workersFiber = yield* Effect.forkScoped(Workers.run(runner, acks, handler, workers))
    yield* Effect.forkScoped(tracker.watchIdle)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        runner.stopping = true
        Queue.offerUnsafe(runner.events, { _tag: "Wake" })
        // Stop the flow: the server forgets the open requests once the inbox
        // has no interest; what is already on its way still arrives (the
        // pump naks it).
        if (!client.isClosed()) {
          yield* Effect.tryPromise(() => subscription.drain()).pipe(Effect.timeout(drainMillis), Effect.ignore)
        }
        yield* Fiber.interrupt(pumpFiber)
        yield* Fiber.interrupt(connectionFiber)
        // Deliveries no handler has started: give them back at once.
        const queued = yield* Queue.clear(runner.work)
        const late = (yield* Queue.clear(runner.events)).flatMap((e) => {
          if (e._tag !== "Inbox" || statusOf(e.msg) !== undefined) return []
          const r = Delivery.receive(e.msg)
          return r === undefined ? [] : [r]
        })
        yield* runner.giveBack([...queued, ...late])
        Queue.endUnsafe(runner.work)
        // Handlers in flight may finish, within the shutdown timeout.
        yield* Effect.raceFirst(Effect.asVoid(Fiber.await(workersFiber)), Effect.sleep(shutdownMillis))
        yield* Fiber.interrupt(workersFiber)
        // The background acks: counted once confirmed, before the scope is closed.
        yield* acks.settle(env.settle.timeoutMillis)
      })
    )

    const handle: EventLog.ConsumerHandle = {
      stats: Effect.sync(() => ({ ...runner.stats })),
      state: tracker.state,
      changes: tracker.changes,
      await: Deferred.await(runner.failure)
    }
    return handle
  })
