/**
 * The `EventLog` of the in-memory transport: JetStream semantics over the
 * server's streams and durable consumers.
 *
 * @since 0.1.0
 * @internal
 */
import { SubjectPattern } from "@herald/subject"
import {
  ConsumerPolicy,
  ConsumerState as ConsumerStates,
  type Envelope,
  EventLog,
  Millis,
  Settlement as Settle,
  Topology,
  TransportError,
  Wire
} from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ConsumerState, Server, Settlement, StoredEntry, StreamState, Taken } from "./server.ts"
import { error, validatePattern, validateSubject } from "./util.ts"

/** A stored message that is not a valid envelope, as `read` and `get` report it. */
const decodeErrorAt = (
  stream: string,
  sequence: number,
  failure: TransportError.TransportError
): TransportError.TransportError => {
  const reason = failure.reason
  const detail = `stream ${stream} sequence ${sequence}: ${reason._tag === "DecodeError" ? reason.detail : reason.message}`
  return error(
    reason._tag === "DecodeError" && reason.header !== undefined
      ? new TransportError.DecodeError({ detail, header: reason.header, cause: failure })
      : new TransportError.DecodeError({ detail, cause: failure })
  )
}

const defaultExpiresMs = 1_000
const defaultShutdownMs = 10_000

type Counter = "acked" | "naked" | "termed"

type MutableStats = { -readonly [K in keyof EventLog.ConsumerStats]: EventLog.ConsumerStats[K] }

const positionSequence = (
  stream: StreamState,
  entries: ReadonlyArray<{ readonly sequence: number; readonly timestamp: number }>,
  position: EventLog.Position,
  end: "from" | "to"
): number => {
  if ("sequence" in position) return position.sequence
  if (end === "from") {
    for (const entry of entries) if (entry.timestamp >= position.time) return entry.sequence
    return stream.lastSeq + 1
  }
  let last = 0
  for (const entry of entries) {
    if (entry.timestamp > position.time) break
    last = entry.sequence
  }
  return last
}

/**
 * Builds the EventLog service over a server.
 *
 * @since 0.1.0
 * @internal
 */
export const make = (server: Server): EventLog.EventLog["Service"] => {
  const appendRaw = (subject: string, message: Wire.RawMessage, options?: EventLog.AppendOptions) =>
    Effect.suspend(() => Effect.fromResult(server.append(subject, message, options)))

  const append = (subject: string, envelope: Envelope.Envelope, options?: EventLog.AppendOptions) =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(envelope)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      return Effect.fromResult(server.append(subject, raw.success, options))
    })

  /** Where a consumer's dead letters go: a running `consume`'s override, else the consumer's. */
  const deadLetterSubjectOf = (consumer: ConsumerState): string =>
    consumer.deadLetterOverride ?? Topology.deadLetterSubject(consumer.config)

  const settleOf = (taken: Taken, settlement: Settlement) =>
    Effect.suspend(() => {
      server.settle(taken.consumer, taken.token, settlement)
      return server.flushLogs
    })

  /**
   * Settles a delivery that failed (its handler, or its decoding) with
   * `Settlement.settle`; the dead letter within the server's `maxPayload`.
   */
  const settleFailure = (
    taken: Taken,
    error: unknown,
    options: {
      readonly nakDelay: (deliveryCount: number) => Duration.Input
      readonly deadLetterSubject: string
      readonly term: (reason: string) => Effect.Effect<void>
      readonly nak: (delay: Duration.Duration) => Effect.Effect<void>
    }
  ) => {
    const consumer = taken.consumer
    return Settle.settle(error, {
      target: {
        stream: consumer.stream.name,
        consumer: consumer.name,
        streamSequence: taken.entry.sequence,
        subject: taken.entry.subject,
        deliveryCount: taken.token.deliveryCount,
        original: taken.entry.raw
      },
      maxDeliver: consumer.norm.maxDeliver > 0 ? consumer.norm.maxDeliver : undefined,
      nakDelay: options.nakDelay,
      deadLetterSubject: options.deadLetterSubject,
      maxPayload: server.options.maxPayload,
      store: (subject, letter) => Effect.fromResult(server.append(subject, letter, undefined)),
      term: options.term,
      nak: options.nak
    })
  }

  /** Dead-letters (or naks) a delivery whose stored message is not a valid envelope; `true` when dead-lettered. */
  const undecodable = (
    taken: Taken,
    error: TransportError.TransportError,
    deadLetterSubject: string,
    nakDelay?: (deliveryCount: number) => Duration.Input
  ) =>
    Effect.map(
      settleFailure(taken, error, {
        nakDelay: nakDelay ?? ((n) => ConsumerPolicy.defaultNakDelay(taken.consumer.config, n)),
        deadLetterSubject,
        term: () => settleOf(taken, { _tag: "Term" }),
        nak: (delay) => settleOf(taken, { _tag: "Nak", delayMs: Millis.orElse(delay, 0) })
      }),
      (outcome) => outcome._tag === "DeadLettered"
    )

  const toDelivery = (
    taken: Taken,
    envelope: Envelope.Envelope,
    deadLetterSubject: string,
    onSettled?: (counter: Counter) => void
  ): EventLog.Delivery => {
    const consumer = taken.consumer
    const settle = (settlement: Settlement, counter: Counter) =>
      Effect.suspend(() => {
        if (server.settle(consumer, taken.token, settlement)) onSettled?.(counter)
        return server.flushLogs
      })
    return {
      subject: taken.entry.subject,
      envelope,
      stream: consumer.stream.name,
      consumer: consumer.name,
      streamSequence: taken.entry.sequence,
      consumerSequence: taken.consumerSequence,
      deliveryCount: taken.token.deliveryCount,
      timestamp: taken.entry.timestamp,
      pending: taken.pending,
      raw: taken.entry.raw,
      deadLetterSubject,
      ack: settle({ _tag: "Ack" }, "acked"),
      nak: (delay?: Duration.Input) => settle({ _tag: "Nak", delayMs: Millis.orElse(delay, 0) }, "naked"),
      term: (_reason?: string) => settle({ _tag: "Term" }, "termed"),
      inProgress: Effect.sync(() => server.progress(consumer, taken.token))
    }
  }

  const pull = (streamName: string, consumerName: string, options?: EventLog.PullOptions) =>
    Effect.suspend(() => {
      const found = server.getConsumer(streamName, consumerName)
      if (Result.isFailure(found)) return Effect.fail(found.failure)
      const consumer = found.success
      const batch = Math.max(1, Math.floor(options?.batch ?? 1))
      const deadline = server.now() + Millis.orElse(options?.expires, defaultExpiresMs)
      const loop: Effect.Effect<ReadonlyArray<EventLog.Delivery>, TransportError.TransportError> = Effect.suspend(
        () => {
          const wake = consumer.signal.current()
          const result = server.take(consumer, batch, options?.foreign)
          if (Result.isFailure(result)) return Effect.andThen(server.flushLogs, Effect.fail(result.failure))
          const taken = result.success.taken
          if (taken.length > 0) {
            const subject = deadLetterSubjectOf(consumer)
            const out: Array<EventLog.Delivery> = []
            const bad: Array<readonly [Taken, TransportError.TransportError]> = []
            for (const t of taken) {
              if (Result.isSuccess(t.decoded)) out.push(toDelivery(t, t.decoded.success, subject))
              else bad.push([t, t.decoded.failure])
            }
            const settled = Effect.forEach(bad, ([t, e]) => undecodable(t, e, subject), { discard: true })
            // Only undecodable messages so far: keep waiting for a valid one.
            if (out.length > 0) return server.flushLogs.pipe(Effect.andThen(settled), Effect.as(out))
            return server.flushLogs.pipe(Effect.andThen(settled), Effect.andThen(loop))
          }
          const remaining = deadline - server.now()
          if (remaining <= 0) return Effect.as(server.flushLogs, [])
          return server.flushLogs.pipe(
            Effect.andThen(Effect.raceFirst(Deferred.await(wake), server.sleep(remaining))),
            Effect.andThen(loop)
          )
        }
      )
      return loop
    })

  const consume = <E, R>(
    streamName: string,
    consumerName: string,
    handler: (delivery: EventLog.Delivery) => Effect.Effect<void, E, R>,
    options?: EventLog.ConsumeOptions
  ): Effect.Effect<EventLog.ConsumerHandle, TransportError.TransportError, Scope.Scope | R> =>
    Effect.gen(function*() {
      const found = server.getConsumer(streamName, consumerName)
      if (Result.isFailure(found)) return yield* Effect.fail(found.failure)
      const consumer: ConsumerState = found.success
      const override = options?.deadLetterSubject
      if (override !== undefined) {
        const valid = validateSubject(override)
        if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
      }
      const deadlineOption = options?.handlerDeadline
      const deadlineMs = deadlineOption === undefined || deadlineOption === "none"
        ? deadlineOption
        : Millis.orElse(deadlineOption, Number.NaN)
      if (typeof deadlineMs === "number" && !(Number.isFinite(deadlineMs) && deadlineMs > 0)) {
        return yield* Effect.fail(
          error(
            new TransportError.InvalidConfig({
              detail: `handlerDeadline: ${Wire.oneLine(String(deadlineOption), 100)} is not a positive duration or "none"`
            })
          )
        )
      }
      const idleOption = options?.idleWarning
      const idleMs = idleOption === undefined ? undefined : Millis.orElse(idleOption, Number.NaN)
      if (idleMs !== undefined && !(Number.isFinite(idleMs) && idleMs > 0)) {
        return yield* Effect.fail(
          error(
            new TransportError.InvalidConfig({
              detail: `idleWarning: ${Wire.oneLine(String(idleOption), 100)} is not a positive duration`
            })
          )
        )
      }
      /** The handler deadline: the option, else the consumer's ack wait; `undefined` for none. */
      const handlerDeadline = (): number | undefined =>
        deadlineMs === "none" ? undefined : deadlineMs ?? consumer.norm.ackWaitMillis
      const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
      const clientMax = Math.max(1, Math.floor(options?.maxAckPending ?? EventLog.defaultMaxAckPending(concurrency)))
      const workers = Math.max(1, Math.min(concurrency, clientMax, consumer.norm.maxAckPending))
      const shutdownMs = Millis.orElse(options?.shutdownTimeout, defaultShutdownMs)
      const nakDelay = options?.nakDelay ??
        ((n: number): Duration.Input => ConsumerPolicy.defaultNakDelay(consumer.config, n))
      const deadLetterSubject = () => override ?? deadLetterSubjectOf(consumer)
      const stats: MutableStats = { acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0, timedOut: 0 }
      const count = (counter: Counter) => {
        stats[counter]++
      }
      const failure = Deferred.makeUnsafe<never, TransportError.TransportError>()
      const label = `memory transport: consumer ${consumer.stream.name}/${consumer.name}`
      const tracker = yield* ConsumerStates.makeTracker({
        label,
        clock: server.clock,
        inFlight: () => stats.inFlight,
        idleWarningMillis: idleMs
      })
      // (Added first, run last: `changes` ends once the runner has shut down.)
      yield* Effect.addFinalizer(() => Effect.sync(tracker.close))
      const stop = Deferred.makeUnsafe<void>()
      let stopping = false
      if (override !== undefined) consumer.deadLetterOverride = override

      const settleFailed = (delivery: EventLog.Delivery, taken: Taken, error: unknown) =>
        Effect.map(
          settleFailure(taken, error, {
            nakDelay,
            deadLetterSubject: deadLetterSubject(),
            term: (reason) => Effect.orDie(delivery.term(reason)),
            nak: (delay) => Effect.orDie(delivery.nak(delay))
          }),
          (outcome) => {
            if (outcome._tag === "DeadLettered") stats.deadLettered++
          }
        )

      const handle = (
        taken: Taken,
        envelope: Envelope.Envelope,
        restore: <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) => Effect.Effect<A, E2, R2>
      ) =>
        Effect.gen(function*() {
          stats.inFlight++
          const delivery = toDelivery(taken, envelope, deadLetterSubject(), count)
          const fiber = yield* Effect.forkChild(handler(delivery))
          const deadline = handlerDeadline()
          const startedAt = server.now()
          const awaited = yield* Effect.exit(restore(
            deadline === undefined
              ? Effect.map(Fiber.await(fiber), Option.some)
              : Effect.raceFirst(Effect.map(Fiber.await(fiber), Option.some), Effect.as(server.sleep(deadline), Option.none()))
          ))
          if (Exit.isFailure(awaited)) {
            // The runner is being interrupted (shutdown): stop the handler, give the message back.
            yield* Fiber.interrupt(fiber)
            if (!taken.token.settled) yield* delivery.nak()
            stats.inFlight--
            return yield* Effect.interrupt
          }
          if (Option.isNone(awaited.value)) {
            // Past the deadline: interrupted (not awaited), settled as a retryable Timeout.
            fiber.interruptUnsafe()
            stats.timedOut++
            const sequence = taken.entry.sequence
            // A handler that has not stopped by the next turn (it ignores or delays interruption) stalls the runner until it stops.
            yield* Effect.yieldNow
            if (fiber.pollUnsafe() === undefined) {
              fiber.addObserver(
                tracker.overdue(`handler of stream sequence ${sequence} past its deadline of ${deadline} ms has not stopped`)
              )
            }
            yield* Effect.logWarning(
              `memory transport: consumer ${consumer.stream.name}/${consumer.name}: handler of stream sequence ${sequence} (delivery ${taken.token.deliveryCount}) still running after ${
                server.now() - startedAt
              } ms (deadline ${deadline} ms); interrupted`
            )
            if (!taken.token.settled) {
              yield* settleFailed(
                delivery,
                taken,
                error(
                  new TransportError.Timeout({
                    operation: `handler of ${consumer.stream.name}/${consumer.name} sequence ${sequence}`,
                    millis: deadline!
                  })
                )
              )
            }
          } else {
            const exit = awaited.value.value
            if (!taken.token.settled) {
              if (Exit.isSuccess(exit)) yield* delivery.ack
              else yield* settleFailed(delivery, taken, Settle.failureOf(exit.cause))
            }
          }
          stats.inFlight--
        })

      const worker = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          while (!stopping) {
            const wake = consumer.signal.current()
            const result = server.take(consumer, 1, options?.foreign)
            if (Result.isFailure(result)) {
              yield* server.flushLogs
              return yield* Effect.fail(result.failure)
            }
            yield* server.flushLogs
            const taken = result.success.taken[0]
            if (taken !== undefined) tracker.received()
            if (taken === undefined) {
              yield* restore(Effect.raceFirst(Deferred.await(wake), Deferred.await(stop)))
            } else if (Result.isFailure(taken.decoded)) {
              if (yield* undecodable(taken, taken.decoded.failure, deadLetterSubject(), nakDelay)) {
                stats.deadLettered++
                stats.termed++
              } else stats.naked++
            } else {
              yield* handle(taken, taken.decoded.success, restore)
            }
          }
        })
      )

      const runner = Effect.all(Array.from({ length: workers }, () => worker), {
        concurrency: "unbounded",
        discard: true
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.suspend(() => {
            if (Cause.hasInterruptsOnly(cause)) return Effect.void
            const found = Cause.findError(cause)
            const stopped = Result.isSuccess(found)
              ? found.success
              : error(new TransportError.Unknown({ detail: `${label}: ${Cause.pretty(cause)}` }))
            tracker.failed(stopped)
            Deferred.doneUnsafe(failure, Effect.fail(stopped))
            return Effect.logError(`${label}: stopped: ${stopped.message}`)
          })
        )
      )

      const fiber = yield* Effect.forkScoped(runner)
      yield* Effect.forkScoped(tracker.watchIdle)
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          stopping = true
          Deferred.doneUnsafe(stop, Effect.void)
          return Effect.raceFirst(Effect.asVoid(Fiber.await(fiber)), server.sleep(shutdownMs)).pipe(
            Effect.andThen(Fiber.interrupt(fiber)),
            Effect.andThen(server.flushLogs),
            Effect.andThen(Effect.sync(() => {
              if (override !== undefined && consumer.deadLetterOverride === override) {
                consumer.deadLetterOverride = undefined
              }
            }))
          )
        })
      )

      const handle_: EventLog.ConsumerHandle = {
        stats: Effect.sync(() => ({ ...stats })),
        state: tracker.state,
        changes: tracker.changes,
        await: Deferred.await(failure)
      }
      return handle_
    })

  // The stored messages a read selects, undecoded.
  interface Selected {
    readonly entry: StoredEntry
    readonly message: EventLog.RawStoredMessage
  }
  const select = (
    streamName: string,
    options: EventLog.ReadOptions | undefined
  ): Result.Result<ReadonlyArray<Selected>, TransportError.TransportError> => {
    const found = server.getStream(streamName)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const stream = found.success
    let filter: SubjectPattern.SubjectPattern | undefined = undefined
    if (options?.filter !== undefined) {
      const valid = validatePattern(options.filter)
      if (Result.isFailure(valid)) return Result.fail(valid.failure)
      filter = valid.success
    }
    const entries = server.snapshot(stream)
    const from = options?.from === undefined ? 1 : positionSequence(stream, entries, options.from, "from")
    const to = options?.to === undefined
      ? stream.lastSeq
      : Math.min(stream.lastSeq, positionSequence(stream, entries, options.to, "to"))
    const selected: Array<Selected> = []
    for (const entry of entries) {
      if (entry.sequence < from) continue
      if (entry.sequence > to) break
      if (filter !== undefined && !SubjectPattern.matches(filter, entry.subject)) continue
      selected.push({
        entry,
        message: {
          subject: entry.subject,
          stream: stream.name,
          sequence: entry.sequence,
          timestamp: entry.timestamp,
          raw: entry.raw
        }
      })
    }
    return Result.succeed(selected)
  }

  const readRaw = (streamName: string, options?: EventLog.ReadOptions): Stream.Stream<
    EventLog.RawStoredMessage,
    TransportError.TransportError
  > =>
    Stream.suspend(() => {
      const selected = select(streamName, options)
      return Result.isFailure(selected)
        ? Stream.fail(selected.failure)
        : Stream.fromArray(selected.success.map((s) => s.message))
    })

  const read = (streamName: string, options?: EventLog.ReadOptions): Stream.Stream<
    EventLog.StoredMessage,
    TransportError.TransportError
  > =>
    Stream.suspend(() => {
      const selected = select(streamName, options)
      if (Result.isFailure(selected)) return Stream.fail(selected.failure)
      const out: Array<EventLog.StoredMessage> = []
      for (const { entry, message } of selected.success) {
        const decoded = server.decode(entry)
        if (Result.isFailure(decoded)) {
          return Stream.concat(
            Stream.fromArray(out),
            Stream.fail(decodeErrorAt(message.stream, message.sequence, decoded.failure))
          )
        }
        out.push({ ...message, envelope: decoded.success })
      }
      return Stream.fromArray(out)
    })

  const getRaw = (streamName: string, sequence: number) =>
    Effect.suspend(() => {
      const found = server.getEntry(streamName, sequence)
      if (Result.isFailure(found)) return Effect.fail(found.failure)
      return Effect.succeed(Option.map(found.success, (entry): EventLog.RawStoredMessage => ({
        subject: entry.subject,
        stream: streamName,
        sequence: entry.sequence,
        timestamp: entry.timestamp,
        raw: entry.raw
      })))
    })

  const get = (streamName: string, sequence: number) =>
    Effect.suspend(() => {
      const found = server.getEntry(streamName, sequence)
      if (Result.isFailure(found)) return Effect.fail(found.failure)
      if (Option.isNone(found.success)) return Effect.succeedNone
      const entry = found.success.value
      const decoded = server.decode(entry)
      if (Result.isFailure(decoded)) return Effect.fail(decodeErrorAt(streamName, sequence, decoded.failure))
      return Effect.succeedSome<EventLog.StoredMessage>({
        subject: entry.subject,
        stream: streamName,
        sequence: entry.sequence,
        timestamp: entry.timestamp,
        raw: entry.raw,
        envelope: decoded.success
      })
    })

  const info = (streamName: string) =>
    Effect.suspend(() => {
      const found = server.getStream(streamName)
      return Result.isFailure(found) ? Effect.fail(found.failure) : Effect.succeed(server.info(found.success))
    })

  const lag = (streamName: string, consumerName: string) =>
    Effect.suspend(() => {
      const found = server.getConsumer(streamName, consumerName)
      if (Result.isFailure(found)) return Effect.fail(found.failure)
      const result = server.lag(found.success)
      return Effect.as(server.flushLogs, result)
    })

  return { append, appendRaw, pull, consume, read, readRaw, get, getRaw, info, lag }
}
