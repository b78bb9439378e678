/**
 * The `EventLog` service over a NATS connection: the parts put together, and
 * `get` / `info` / `lag`.
 *
 * @since 0.1.0
 * @internal
 */
import { EventLog, Topology, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as NatsConnection from "../../NatsConnection.ts"
import * as Errors from "../errors.ts"
import * as Append from "./append.ts"
import * as Consume from "./consume.ts"
import { makeAdvisories } from "./deadLetters.ts"
import { decodeErrorAt } from "./delivery.ts"
import { consumerInfo, type Env, type Resolved, streamInfo } from "./env.ts"
import { rawOfStored, storedOfStoredMsg } from "./message.ts"
import * as Pull from "./pull.ts"
import * as Read from "./read.ts"

/**
 * Builds the service; the advisory subscriptions live as long as `scope`.
 *
 * @internal
 */
export const make = (
  connection: NatsConnection.NatsConnection["Service"],
  options: Resolved
): Effect.Effect<EventLog.EventLog["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const { append, appendRaw } = Append.make(connection, { retryMillis: options.appendRetryMillis })
    const version = connection.server.version
    let env: Env | undefined = undefined
    const watchAdvisories = yield* makeAdvisories(connection.client, () => env!, scope)
    env = {
      connection,
      options,
      settle: {
        client: connection.client,
        timeoutMillis: connection.jetstreamTimeoutMillis,
        termWithReason: version.major > 2 || (version.major === 2 && version.minor >= 11)
      },
      appendRaw,
      overrides: new Map(),
      watchAdvisories
    }
    const ready: Env = env

    const info = (stream: string) =>
      Effect.map(streamInfo(ready, stream), (si): EventLog.StreamInfo => ({
        name: si.config.name,
        subjects: si.config.subjects ?? [],
        messages: si.state.messages,
        bytes: si.state.bytes,
        firstSequence: si.state.messages === 0 ? 0 : si.state.first_seq,
        lastSequence: si.state.last_seq,
        consumers: si.state.consumer_count
      }))

    const lag = (stream: string, consumer: string) =>
      Effect.map(consumerInfo(ready, stream, consumer), (ci): EventLog.ConsumerLag => ({
        stream,
        consumer,
        pending: ci.num_pending,
        ackPending: ci.num_ack_pending,
        redelivered: ci.num_redelivered,
        delivered: ci.delivered.stream_seq,
        ackFloor: ci.ack_floor.stream_seq
      }))

    const readRaw = Read.make(ready, (m) => Result.succeed(m))
    const read = Read.make(ready, (m): Result.Result<EventLog.StoredMessage, ReturnType<typeof decodeErrorAt>> => {
      const envelope = Wire.decodeRaw(m.raw)
      return Result.isSuccess(envelope)
        ? Result.succeed({ ...m, envelope: envelope.success })
        : Result.fail(decodeErrorAt(m.stream, m.sequence, envelope.failure))
    })

    const getRaw = (stream: string, sequence: number) =>
      Effect.gen(function*() {
        const validName = Topology.validateName("stream", stream)
        if (Result.isFailure(validName)) return yield* Effect.fail(validName.failure)
        const validSequence = EventLog.validateSequence(stream, sequence)
        if (Result.isFailure(validSequence)) return yield* Effect.fail(validSequence.failure)
        // `STREAM.MSG.GET` by sequence; nats.js answers null for "no message found" (10037).
        const stored = yield* Effect.tryPromise({
          try: () => connection.manager.streams.getMessage(stream, { seq: sequence }),
          catch: (e) =>
            Errors.fromUnknown(e, {
              operation: `get ${stream} sequence ${sequence}`,
              stream,
              timeoutMillis: connection.jetstreamTimeoutMillis
            })
        })
        if (stored === null || stored.seq !== sequence) return Option.none<EventLog.RawStoredMessage>()
        return Option.some<EventLog.RawStoredMessage>({
          subject: stored.subject,
          stream,
          sequence: stored.seq,
          timestamp: stored.time.getTime(),
          raw: rawOfStored(storedOfStoredMsg(stored))
        })
      })

    const get = (stream: string, sequence: number) =>
      Effect.flatMap(getRaw(stream, sequence), (found) => {
        if (Option.isNone(found)) return Effect.succeedNone
        const envelope = Wire.decodeRaw(found.value.raw)
        return Result.isSuccess(envelope)
          ? Effect.succeedSome<EventLog.StoredMessage>({ ...found.value, envelope: envelope.success })
          : Effect.fail(decodeErrorAt(stream, sequence, envelope.failure))
      })

    const pull = Pull.make(ready)
    const consume = Consume.make(ready)

    return {
      // No span on the per-message methods (`append`, `appendRaw`): a span
      // and a call-site capture per message cost about 3.2 µs each
      // (bench/README.md, finding 4). The others keep theirs.
      append,
      appendRaw,
      pull: Effect.fn("NatsEventLog.pull")(function*(stream: string, consumer: string, options?: EventLog.PullOptions) {
        return yield* pull(stream, consumer, options)
      }),
      consume: Effect.fn("NatsEventLog.consume")(function*<E, R>(
        stream: string,
        consumer: string,
        handler: (delivery: EventLog.Delivery) => Effect.Effect<void, E, R>,
        options?: EventLog.ConsumeOptions
      ) {
        return yield* consume(stream, consumer, handler, options)
      }),
      read: (stream: string, options?: EventLog.ReadOptions) =>
        Stream.withSpan(read(stream, options), "NatsEventLog.read", { attributes: { stream } }),
      readRaw: (stream: string, options?: EventLog.ReadOptions) =>
        Stream.withSpan(readRaw(stream, options), "NatsEventLog.readRaw", { attributes: { stream } }),
      get: Effect.fn("NatsEventLog.get")(function*(stream: string, sequence: number) {
        return yield* get(stream, sequence)
      }),
      getRaw: Effect.fn("NatsEventLog.getRaw")(function*(stream: string, sequence: number) {
        return yield* getRaw(stream, sequence)
      }),
      info: Effect.fn("NatsEventLog.info")(function*(stream: string) {
        return yield* info(stream)
      }),
      lag: Effect.fn("NatsEventLog.lag")(function*(stream: string, consumer: string) {
        return yield* lag(stream, consumer)
      })
    }
  })
