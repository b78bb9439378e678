/**
 * The `EventLog` of the in-memory transport: JetStream semantics over the
 * server's streams and durable consumers.
 *
 * @since 0.1.0
 * @internal
 */
import { SubjectPattern } from "@herald/subject"
import { ConsumerPolicy, type Envelope, type EventLog, Topology, TransportError, Wire } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ConsumerState, Server, Settlement, StoredEntry, StreamState, Taken } from "./server.ts"
import { error, millis, validatePattern, validateSubject } from "./util.ts"

const defaultExpiresMs = 1_000
const defaultShutdownMs = 10_000

type Counter = "acked" | "naked" | "termed"

interface MutableStats {
  acked: number
  naked: number
  termed: number
  deadLettered: number
  inFlight: number
}

const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return failure.success
  if (Cause.hasInterruptsOnly(cause)) {
    return error(new TransportError.HandlerFailed({ detail: "handler interrupted", retryable: true }))
  }
  const defect = Cause.squash(cause)
  return error(
    new TransportError.HandlerFailed({
      detail: `handler defect: ${TransportError.describe(defect)}`,
      retryable: true,
      cause: defect
    })
  )
}

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

  const toDelivery = (taken: Taken, onSettled?: (counter: Counter) => void): EventLog.Delivery => {
    const consumer = taken.consumer
    const settle = (settlement: Settlement, counter: Counter) =>
      Effect.suspend(() => {
        if (server.settle(consumer, taken.token, settlement)) onSettled?.(counter)
        return server.flushLogs
      })
    return {
      subject: taken.entry.subject,
      envelope: taken.envelope,
      stream: consumer.stream.name,
      consumer: consumer.name,
      streamSequence: taken.entry.sequence,
      consumerSequence: taken.consumerSequence,
      deliveryCount: taken.token.deliveryCount,
      timestamp: taken.entry.timestamp,
      pending: taken.pending,
      raw: taken.entry.raw,
      ack: settle({ _tag: "Ack" }, "acked"),
      nak: (delay?: Duration.Input) => settle({ _tag: "Nak", delayMs: millis(delay, 0) }, "naked"),
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
      const deadline = server.now() + millis(options?.expires, defaultExpiresMs)
      const loop: Effect.Effect<ReadonlyArray<EventLog.Delivery>, TransportError.TransportError> = Effect.suspend(
        () => {
          const wake = consumer.signal.current()
          const result = server.take(consumer, batch, options?.foreign)
          if (Result.isFailure(result)) return Effect.andThen(server.flushLogs, Effect.fail(result.failure))
          const taken = result.success.taken
          if (taken.length > 0) return Effect.as(server.flushLogs, taken.map((t) => toDelivery(t)))
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
      const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 1))
      const clientMax = Math.max(1, Math.floor(options?.maxAckPending ?? 10 * concurrency))
      const workers = Math.max(1, Math.min(concurrency, clientMax, consumer.norm.maxAckPending))
      const shutdownMs = millis(options?.shutdownTimeout, defaultShutdownMs)
      const nakDelay = options?.nakDelay ??
        ((n: number): Duration.Input => ConsumerPolicy.defaultNakDelay(consumer.config, n))
      const deadLetterSubject = () => override ?? Topology.deadLetterSubject(consumer.config)
      const stats: MutableStats = { acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0 }
      const count = (counter: Counter) => {
        stats[counter]++
      }
      const failure = Deferred.makeUnsafe<never, TransportError.TransportError>()
      const stop = Deferred.makeUnsafe<void>()
      let stopping = false
      if (override !== undefined) consumer.deadLetterOverride = override

      const settleFailure = (delivery: EventLog.Delivery, taken: Taken, cause: Cause.Cause<E>) =>
        Effect.suspend(() => {
          const deliveryCount = taken.token.deliveryCount
          const decision = ConsumerPolicy.decide({
            error: failureOf(cause),
            deliveryCount,
            maxDeliver: consumer.norm.maxDeliver > 0 ? consumer.norm.maxDeliver : undefined,
            nakDelay
          })
          if (decision._tag === "Nak") return delivery.nak(decision.delay)
          const letter = server.deadLetter(
            consumer,
            taken.entry,
            deliveryCount,
            decision.reason,
            server.now(),
            deadLetterSubject()
          )
          if (Result.isSuccess(letter)) {
            stats.deadLettered++
            return delivery.term(decision.reason)
          }
          return Effect.logError(
            `memory transport: cannot dead-letter ${consumer.stream.name} sequence ${taken.entry.sequence} of consumer ${consumer.name} on ${deadLetterSubject()}, nak'd instead: ${letter.failure.message}`
          ).pipe(Effect.andThen(delivery.nak(millis(nakDelay(deliveryCount), 1000))))
        })

      const handle = (taken: Taken, restore: <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) => Effect.Effect<A, E2, R2>) =>
        Effect.gen(function*() {
          stats.inFlight++
          const delivery = toDelivery(taken, count)
          const fiber = yield* Effect.forkChild(handler(delivery))
          const awaited = yield* Effect.exit(restore(Fiber.await(fiber)))
          if (Exit.isFailure(awaited)) {
            // The runner is being interrupted (shutdown): stop the handler, give the message back.
            yield* Fiber.interrupt(fiber)
            if (!taken.token.settled) yield* delivery.nak()
            stats.inFlight--
            return yield* Effect.interrupt
          }
          const exit = awaited.value
          if (!taken.token.settled) {
            if (Exit.isSuccess(exit)) yield* delivery.ack
            else yield* settleFailure(delivery, taken, exit.cause)
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
            stats.deadLettered += result.success.deadLettered
            stats.termed += result.success.deadLettered
            yield* server.flushLogs
            const taken = result.success.taken[0]
            if (taken === undefined) {
              yield* restore(Effect.raceFirst(Deferred.await(wake), Deferred.await(stop)))
            } else {
              yield* handle(taken, restore)
            }
          }
        })
      )

      const runner = Effect.all(Array.from({ length: workers }, () => worker), {
        concurrency: "unbounded",
        discard: true
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.sync(() => {
            if (!Cause.hasInterruptsOnly(cause)) Deferred.doneUnsafe(failure, Effect.failCause(cause))
          })
        )
      )

      const fiber = yield* Effect.forkScoped(runner)
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
          const reason = decoded.failure.reason
          const detail = `stream ${message.stream} sequence ${message.sequence}: ${
            reason._tag === "DecodeError" ? reason.detail : reason.message
          }`
          const decodeError = reason._tag === "DecodeError" && reason.header !== undefined
            ? new TransportError.DecodeError({ detail, header: reason.header, cause: decoded.failure })
            : new TransportError.DecodeError({ detail, cause: decoded.failure })
          return Stream.concat(Stream.fromArray(out), Stream.fail(error(decodeError)))
        }
        out.push({ ...message, envelope: decoded.success })
      }
      return Stream.fromArray(out)
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

  return { append, appendRaw, pull, consume, read, readRaw, info, lag }
}
