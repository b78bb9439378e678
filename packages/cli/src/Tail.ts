/**
 * `herald tail SUBJECT`: the messages on a subject (wildcards allowed) as
 * they arrive, decoded. A Herald message shows its time, subject, type,
 * kind, message / correlation / causation ids and body; a foreign message
 * (one that is not a Herald envelope) is shown raw, its headers and body,
 * with why it is not Herald's.
 *
 * By default `tail` is a core NATS subscription: it sees the live traffic
 * on the subject, whether a stream captures it or not. With `--stream`
 * (and `--from-seq N` or `--since TIME`), it reads the stream through an
 * ephemeral ordered consumer from that point on, then the messages stored
 * after, with their stream sequence. It runs until `count` messages were
 * shown, or until it is stopped (SIGINT / SIGTERM: the subscription is
 * closed with its scope and the command exits with code 0).
 *
 * @since 0.1.0
 */
import { SubjectPattern } from "@herald/subject"
import { EventLog, Wire } from "@herald/transport"
import { NatsConnection } from "@herald/transport-nats"
import { DeliverPolicy } from "@nats-io/jetstream"
import * as Cause from "effect/Cause"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import * as CommandError from "./CommandError.ts"
import * as Format from "./Format.ts"
import * as Input from "./Input.ts"

/**
 * Where a stream is read from.
 *
 * @since 0.1.0
 * @category models
 */
export type Start =
  | { readonly _tag: "New" }
  | { readonly _tag: "Sequence"; readonly sequence: number }
  | { readonly _tag: "Time"; readonly time: number }

/**
 * What to tail: a subject on the core subscription, or a subject of a
 * stream from a starting point.
 *
 * @since 0.1.0
 * @category models
 */
export type Source =
  | { readonly _tag: "Core"; readonly subject: string }
  | { readonly _tag: "Stream"; readonly subject: string; readonly stream: string; readonly start: Start }

/**
 * A message as it arrived: its subject, headers and body, the status of its
 * header block (if any), when it arrived (or was stored, read from a
 * stream) and where it is stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Arrival {
  readonly subject: string
  readonly raw: Wire.RawMessage
  /** Unix epoch milliseconds: when it was received, or stored for a message read from a stream. */
  readonly time: number
  readonly stream: string | undefined
  readonly sequence: number | undefined
}

/**
 * A body: parsed JSON when it parses, else UTF-8 text, else base64.
 *
 * @since 0.1.0
 * @category models
 */
export type Body =
  | { readonly encoding: "json"; readonly value: unknown }
  | { readonly encoding: "text"; readonly value: string }
  | { readonly encoding: "base64"; readonly value: string }

/**
 * One message of `herald tail`, as `--json` prints it (one object a line).
 * `herald: true` for a Herald envelope, with its type, kind and ids, and
 * its headers other than Herald's own; `herald: false` for a foreign
 * message, with every header, the header block's status and `problem`,
 * why it is not a Herald envelope.
 *
 * @since 0.1.0
 * @category models
 */
export type Entry = {
  /** ISO-8601: received, or stored for a message read from a stream. */
  readonly time: string
  readonly subject: string
  readonly stream: string | null
  readonly sequence: number | null
  readonly headers: Readonly<Record<string, string>>
  readonly bodyBytes: number
  readonly bodyEncoding: Body["encoding"]
  readonly body: unknown
} & (
  | {
    readonly herald: true
    readonly type: string
    readonly kind: string
    readonly messageId: string
    readonly correlationId: string
    readonly causationId: string
    /** ISO-8601. */
    readonly occurredAt: string
    readonly contentType: string
  }
  | {
    readonly herald: false
    readonly status: string | null
    readonly problem: string
  }
)

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * A body read as JSON when it parses, else as UTF-8 text, else as base64.
 *
 * @since 0.1.0
 * @category decoding
 */
export const bodyOf = (bytes: Uint8Array): Body => {
  const text = Result.try(() => utf8.decode(bytes))
  if (Result.isFailure(text)) return { encoding: "base64", value: Buffer.from(bytes).toString("base64") }
  const parsed = text.success.trim() === "" ? Result.failVoid : Result.try(() => JSON.parse(text.success) as unknown)
  return Result.isSuccess(parsed) ? { encoding: "json", value: parsed.success } : { encoding: "text", value: text.success }
}

/**
 * The entry of a message: decoded when it is a Herald envelope, raw when not.
 *
 * @since 0.1.0
 * @category decoding
 */
export const entryOf = (arrival: Arrival): Entry => {
  const body = bodyOf(arrival.raw.body)
  const common = {
    time: new Date(arrival.time).toISOString(),
    subject: arrival.subject,
    stream: arrival.stream ?? null,
    sequence: arrival.sequence ?? null
  }
  const decoded = Wire.decodeRaw(arrival.raw)
  if (Result.isFailure(decoded)) {
    return {
      ...common,
      herald: false,
      status: arrival.raw.status ?? null,
      problem: decoded.failure.message,
      headers: arrival.raw.headers,
      bodyBytes: arrival.raw.body.length,
      bodyEncoding: body.encoding,
      body: body.value
    }
  }
  const envelope = decoded.success
  return {
    ...common,
    herald: true,
    type: envelope.type,
    kind: envelope.kind,
    messageId: envelope.identity.messageId,
    correlationId: envelope.identity.correlationId,
    causationId: envelope.identity.causationId,
    occurredAt: new Date(envelope.occurredAt).toISOString(),
    contentType: envelope.contentType,
    headers: envelope.headers,
    bodyBytes: arrival.raw.body.length,
    bodyEncoding: body.encoding,
    body: body.value
  }
}

/**
 * How much of a body a table shows.
 *
 * @since 0.1.0
 * @category constants
 */
export const bodyWidth = 240

const bodyText = (entry: Entry): string =>
  entry.bodyBytes === 0
    ? "(empty body)"
    : entry.bodyEncoding === "json"
    ? Format.clip(JSON.stringify(entry.body), bodyWidth)
    : entry.bodyEncoding === "text"
    ? Format.clip(entry.body as string, bodyWidth)
    : `(${Format.bytes(entry.bodyBytes)} of binary, base64) ${Format.clip(entry.body as string, bodyWidth - 30)}`

const timeText = (iso: string): string => iso.slice(0, 23).replace("T", " ")

/**
 * One message for people: a line with its time (UTC, milliseconds),
 * subject, type and kind (or `foreign` and why) and where it is stored;
 * then its ids (a Herald message) or headers (a foreign one), indented;
 * then its body, cut to {@link bodyWidth} characters.
 *
 * @since 0.1.0
 * @category formatting
 */
export const entryText = (entry: Entry): string => {
  const where = entry.stream === null ? "" : `  (${entry.stream} #${entry.sequence})`
  const lines: Array<string> = []
  if (entry.herald) {
    lines.push(`${timeText(entry.time)}  ${entry.subject}  ${entry.type} (${entry.kind})${where}`)
    lines.push(`  id ${entry.messageId}  correlation ${entry.correlationId}  causation ${entry.causationId}`)
    for (const [name, value] of Object.entries(entry.headers)) lines.push(`  ${name}: ${Format.clip(value, bodyWidth)}`)
  } else {
    lines.push(`${timeText(entry.time)}  ${entry.subject}  foreign${where}`)
    lines.push(`  not a Herald message: ${Format.clip(entry.problem, bodyWidth)}`)
    if (entry.status !== null) lines.push(`  status: ${entry.status}`)
    for (const [name, value] of Object.entries(entry.headers)) lines.push(`  ${name}: ${Format.clip(value, bodyWidth)}`)
  }
  lines.push(`  ${bodyText(entry)}`)
  return lines.join("\n")
}

/** The headers of a nats.js message as one value per name, and the status of its header block. */
interface Headers {
  readonly keys: () => Array<string>
  readonly get: (name: string) => string
  readonly code: number
  readonly description: string
}

const rawOf = (headers: Headers | undefined, body: Uint8Array): Wire.RawMessage => {
  const out: Record<string, string> = {}
  if (headers !== undefined) {
    for (const name of headers.keys()) {
      Object.defineProperty(out, name, { value: headers.get(name), enumerable: true, writable: true, configurable: true })
    }
  }
  const status = headers === undefined || headers.code === 0 ? undefined : `${headers.code} ${headers.description}`.trim()
  return status === undefined ? { headers: out, body } : { headers: out, body, status }
}

/**
 * Checks a subject to tail (wildcards allowed).
 *
 * @since 0.1.0
 * @category parsing
 */
export const validateSubject = (subject: string): Effect.Effect<string, CommandError.CommandError> => {
  const valid = SubjectPattern.make(subject)
  return Result.isSuccess(valid)
    ? Effect.succeed(subject)
    : Effect.fail(CommandError.invalid(`invalid ${valid.failure.message}`))
}

/** A core subscription: live once the effect that runs the stream has flushed it to the server. */
const core = (subject: string): Stream.Stream<Arrival, CommandError.CommandError, NatsConnection.NatsConnection> =>
  Stream.callback<Arrival, CommandError.CommandError, NatsConnection.NatsConnection>((queue) =>
    Effect.gen(function*() {
      const connection = yield* NatsConnection.NatsConnection
      const clock = yield* Clock.Clock
      yield* Effect.acquireRelease(
        Effect.try({
          try: () =>
            connection.client.subscribe(subject, {
              callback: (error, msg) => {
                if (error !== null) {
                  Queue.failCauseUnsafe(
                    queue,
                    Cause.fail(CommandError.transport(NatsConnection.mapError(error, `subscribe to ${subject}`)))
                  )
                  return
                }
                Queue.offerUnsafe(queue, {
                  subject: msg.subject,
                  raw: rawOf(msg.headers, msg.data),
                  time: clock.currentTimeMillisUnsafe(),
                  stream: undefined,
                  sequence: undefined
                })
              }
            }),
          catch: (e) => CommandError.transport(NatsConnection.mapError(e, `subscribe to ${subject}`))
        }),
        (subscription) => Effect.sync(() => subscription.unsubscribe())
      )
      yield* Effect.tryPromise({
        try: () => connection.client.flush(),
        catch: (e) => CommandError.transport(NatsConnection.mapError(e, `subscribe to ${subject}`))
      })
    })
  )

const deliverOf = (start: Start) =>
  start._tag === "Sequence"
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.sequence }
    : start._tag === "Time"
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() }
    : { deliver_policy: DeliverPolicy.New }

/** An ephemeral ordered consumer of the stream, from `start`, filtered to `subject`; deleted with the scope. */
const ordered = (
  stream: string,
  subject: string,
  start: Start
): Stream.Stream<Arrival, CommandError.CommandError, NatsConnection.NatsConnection | EventLog.EventLog> =>
  Stream.unwrap(Effect.gen(function*() {
    const connection = yield* NatsConnection.NatsConnection
    const log = yield* EventLog.EventLog
    yield* Effect.mapError(log.info(stream), CommandError.transport)
    const fail = (e: unknown) => CommandError.transport(NatsConnection.mapError(e, `read ${stream}`))
    const consumer = yield* Effect.tryPromise({
      try: () => connection.jetstream.consumers.get(stream, { filter_subjects: subject, ...deliverOf(start) }),
      catch: fail
    })
    const messages = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => consumer.consume(), catch: fail }),
      (messages) => Effect.promise(() => messages.close())
    )
    return Stream.map(Stream.fromAsyncIterable(messages, fail), (m): Arrival => ({
      subject: m.subject,
      raw: rawOf(m.headers, m.data),
      time: Math.floor(m.info.timestampNanos / 1_000_000),
      stream,
      sequence: m.seq
    }))
  }))

/**
 * The messages of a source as they arrive, decoded.
 *
 * @since 0.1.0
 * @category tailing
 */
export const entries = (
  source: Source
): Stream.Stream<Entry, CommandError.CommandError, NatsConnection.NatsConnection | EventLog.EventLog> =>
  Stream.map(
    source._tag === "Core" ? core(source.subject) : ordered(source.stream, source.subject, source.start),
    entryOf
  )

let stoppedBySignal = false

/**
 * Runs `self`, a command that runs until it is stopped: when SIGINT or
 * SIGTERM interrupts it, the run ends with code 0 ({@link teardown}).
 *
 * @since 0.1.0
 * @category running
 */
export const untilStopped = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.sync(() => {
    stoppedBySignal = true
  }), () => self)

/**
 * The binary's teardown: the exit code of `Runtime.defaultTeardown`, except
 * `0` for a command run with {@link untilStopped} that a signal interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const teardown: Runtime.Teardown = (exit, onExit) =>
  stoppedBySignal && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : Runtime.defaultTeardown(exit, onExit)

/**
 * Prints the messages of a source, each as {@link entryText} or as one
 * line of JSON, until `count` were printed (forever without `count`).
 *
 * @since 0.1.0
 * @category tailing
 */
export const run = (
  source: Source,
  options: { readonly json: boolean; readonly count?: number | undefined }
): Effect.Effect<void, CommandError.CommandError, NatsConnection.NatsConnection | EventLog.EventLog> => {
  const all = entries(source)
  const limited = options.count === undefined ? all : Stream.take(all, options.count)
  return Stream.runForEach(limited, (entry) => Console.log(options.json ? JSON.stringify(entry) : entryText(entry)))
}

/**
 * The stream that captures `subject`, for `--since` / `--from-seq` without
 * `--stream`.
 *
 * @since 0.1.0
 * @category tailing
 */
export const streamOf = (subject: string): Effect.Effect<string, CommandError.CommandError, NatsConnection.NatsConnection> =>
  Effect.flatMap(NatsConnection.NatsConnection, (connection) =>
    Effect.tryPromise({
      try: () => connection.manager.streams.find(subject),
      catch: (e) =>
        e instanceof Error && /no stream matches subject/i.test(e.message)
          ? CommandError.invalid(`no stream captures ${subject}: give the stream with --stream`)
          : CommandError.transport(NatsConnection.mapError(e, `find the stream of ${subject}`))
    }))

const json = Flag.Boolean("json").pipe(
  Flag.withDefault(false),
  Flag.withDescription("Print one JSON object a line (NDJSON) instead of text")
)

/**
 * The `tail` command, connecting with `connection`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = <E>(connection: Layer.Layer<NatsConnection.NatsConnection | EventLog.EventLog, E>) =>
  Command.make("tail", {
    json,
    subject: Argument.String("subject").pipe(Argument.withDescription("The subject to watch; wildcards * and > allowed")),
    stream: Flag.String("stream").pipe(
      Flag.optional,
      Flag.withDescription("Read this stream (an ephemeral ordered consumer) instead of the live core subscription")
    ),
    fromSeq: Flag.String("from-seq").pipe(
      Flag.optional,
      Flag.withDescription("Read the stream from this sequence (the stream that captures SUBJECT unless --stream)")
    ),
    since: Flag.String("since").pipe(
      Flag.optional,
      Flag.withDescription("Read the stream from this time: ISO-8601, or an age such as 15m, 2h, 7d")
    ),
    count: Flag.Int("count").pipe(Flag.optional, Flag.withDescription("Stop after this many messages"))
  }, (config) =>
    Effect.gen(function*() {
      const subject = yield* validateSubject(config.subject)
      const count = Option.isNone(config.count) ? undefined : yield* Input.limit(config.count.value, "count")
      if (Option.isSome(config.fromSeq) && Option.isSome(config.since)) {
        return yield* Effect.fail(CommandError.invalid("give --from-seq or --since, not both"))
      }
      const start: Start = Option.isSome(config.fromSeq)
        ? { _tag: "Sequence", sequence: yield* Input.sequence(config.fromSeq.value) }
        : Option.isSome(config.since)
        ? { _tag: "Time", time: yield* Input.since(config.since.value, yield* Clock.currentTimeMillis) }
        : { _tag: "New" }
      const source: Source = Option.isSome(config.stream)
        ? { _tag: "Stream", subject, stream: config.stream.value, start }
        : start._tag === "New"
        ? { _tag: "Core", subject }
        : { _tag: "Stream", subject, stream: yield* streamOf(subject), start }
      yield* untilStopped(run(source, { json: config.json, count }))
    }).pipe(Effect.provide(connection))).pipe(
      Command.withDescription(
        "Messages on a subject as they arrive: time, subject, type, kind, ids and body; foreign messages raw"
      )
    )
