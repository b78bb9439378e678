/**
 * `herald replay STREAM --to-subject SUBJECT`: a range of a stream, by
 * sequence or by time, appended again to a subject so that its handlers
 * see the messages again. The range is read with `Replay.bySequence` /
 * `Replay.byTime` of `@herald/replay` (bounded when the command starts:
 * messages appended later are not replayed), raw (`rawEvents`): every
 * message of the range is copied as stored, Herald's and foreign alike.
 * Each is appended as `herald dlq retry` appends a dead letter (`Resend`):
 * its body and headers, the same `Herald-Message-Id` when it has one (an
 * inbox that already handled it skips it) and a fresh `Nats-Msg-Id`
 * (JetStream's duplicate window does not swallow it).
 *
 * On a terminal a progress bar shows the sequences done, the rate and the
 * time left; otherwise a progress line is printed every second. A summary
 * ends the run (`--json`: the summary object alone). `--dry-run` lists what
 * would be replayed and appends nothing.
 *
 * @since 0.1.0
 */
import { Replay, ReplayError } from "@herald/replay"
import { Subject, SubjectPattern } from "@herald/subject"
import { EventLog, TransportError, Wire } from "@herald/transport"
import type { NatsConnection } from "@herald/transport-nats"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as CommandError from "./CommandError.ts"
import * as Format from "./Format.ts"
import * as Input from "./Input.ts"
import * as Resend from "./Resend.ts"

/**
 * One end of a range: a stream sequence or a time (Unix epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export type Position =
  | { readonly _tag: "Sequence"; readonly sequence: number }
  | { readonly _tag: "Time"; readonly time: number }

/**
 * An end of a range as written on the command line: a sequence (digits), an
 * ISO-8601 time, or an age before `now` (`90s`, `15m`, `2h`, `7d`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const position = (text: string, now: number): Effect.Effect<Position, CommandError.CommandError> =>
  /^[0-9]+$/.test(text)
    ? Effect.map(Input.sequence(text), (sequence): Position => ({ _tag: "Sequence", sequence }))
    : Effect.mapError(
      Effect.map(Input.since(text, now), (time): Position => ({ _tag: "Time", time })),
      () =>
        CommandError.invalid(
          `malformed position ${JSON.stringify(text)}: expected a sequence, an ISO-8601 time or an age such as 90s, 15m, 2h, 7d`
        )
    )

/**
 * What to replay: the stream, the range (each end optional: from the first
 * stored message, to the last), the subjects kept (`filter`), the subject
 * the copies go to, and the rate (messages per second; as fast as possible
 * without).
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly stream: string
  readonly from: Position | undefined
  readonly to: Position | undefined
  readonly filter: string | undefined
  readonly toSubject: string
  readonly rate: number | undefined
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`

const iso = (millis: number): string => new Date(millis).toISOString()

const fromReplay = (error: ReplayError.ReplayError | TransportError.TransportError): CommandError.CommandError =>
  TransportError.isTransportError(error) ? CommandError.transport(error) : CommandError.invalid(error.message)

/**
 * The replay of a plan, its bounds fixed now. Refused with one line that
 * says why: ends of two kinds, `from` after `to`, a stream that does not
 * exist, a range past the end of the stream or holding no message, a range
 * whose start the stream no longer holds (purged).
 *
 * @since 0.1.0
 * @category replaying
 */
export const open = (plan: Plan): Effect.Effect<Replay.Replay, CommandError.CommandError, EventLog.EventLog> =>
  Effect.gen(function*() {
    const { from, to, stream } = plan
    if (from !== undefined && to !== undefined && from._tag !== to._tag) {
      return yield* Effect.fail(CommandError.invalid("give --from and --to both as sequences or both as times"))
    }
    const options = {
      filter: plan.filter,
      pace: plan.rate === undefined ? "instant" as const : { perSecond: plan.rate }
    }
    const log = yield* EventLog.EventLog
    const info = yield* Effect.mapError(log.info(stream), CommandError.transport)
    if (from?._tag === "Time" || to?._tag === "Time") {
      const start = from?._tag === "Time" ? from.time : 0
      const end = to?._tag === "Time" ? to.time : undefined
      if (end !== undefined && end < start) {
        return yield* Effect.fail(CommandError.invalid(`--from ${iso(start)} is after --to ${iso(end)}`))
      }
      const replay = yield* Effect.mapError(Replay.byTime(stream, { ...options, from: start, to: end }), fromReplay)
      if (replay.total === 0) {
        return yield* Effect.fail(
          CommandError.notFound(
            `nothing to replay: ${stream} holds no message stored from ${iso(start)}${end === undefined ? "" : ` to ${iso(end)}`}`
          )
        )
      }
      return replay
    }
    const first = from?._tag === "Sequence" ? from.sequence : Math.max(1, info.firstSequence)
    const last = to?._tag === "Sequence" ? to.sequence : undefined
    if (last !== undefined && last < first) {
      return yield* Effect.fail(CommandError.invalid(`--from ${first} is after --to ${last}`))
    }
    if (first > info.lastSequence) {
      return yield* Effect.fail(
        CommandError.notFound(
          info.lastSequence === 0
            ? `nothing to replay: ${stream} is empty`
            : `nothing to replay: sequence ${first} is past the last sequence of ${stream} (${info.lastSequence})`
        )
      )
    }
    const replay = yield* Effect.mapError(Replay.bySequence(stream, { ...options, from: first, to: last }), fromReplay)
    const purged = replay.purged[0]
    if (purged !== undefined) {
      const kept = info.messages === 0 ? "it holds no message" : `its first stored sequence is ${info.firstSequence}`
      return yield* Effect.fail(
        CommandError.notFound(
          `${stream} no longer holds ${purged.from === purged.to ? `sequence ${purged.from}` : `sequences ${purged.from}-${purged.to}`} (purged; ${kept})`
        )
      )
    }
    return replay
  })

/**
 * A message `--dry-run` lists. A foreign message (not a Herald envelope)
 * has no `type`, and a `messageId` only when it has a `Herald-Message-Id`
 * header (which its copy keeps).
 *
 * @since 0.1.0
 * @category models
 */
export interface Planned {
  readonly sequence: number
  /** ISO-8601. */
  readonly storedAt: string
  readonly subject: string
  /** The envelope's type; `null` for a foreign message. */
  readonly type: string | null
  /** `Herald-Message-Id`; `null` when there is none. */
  readonly messageId: string | null
}

const planned = (m: EventLog.RawStoredMessage): Planned => {
  const decoded = Wire.decodeRaw(m.raw)
  return {
    sequence: m.sequence,
    storedAt: iso(m.timestamp),
    subject: m.subject,
    type: Result.isSuccess(decoded) ? decoded.success.type : null,
    messageId: Result.isSuccess(decoded)
      ? decoded.success.identity.messageId
      : Wire.header(m.raw, Wire.HeaderNames.messageId) ?? null
  }
}

/**
 * What `--dry-run` prints: the range, the messages it holds, and the
 * sequences in it that the stream no longer holds (`gaps`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DryRun {
  readonly dryRun: true
  readonly stream: string
  readonly from: number
  readonly to: number
  readonly toSubject: string
  readonly filter: string | null
  readonly sequences: number
  readonly gaps: number
  readonly messages: ReadonlyArray<Planned>
}

/**
 * What a replay did: the range, the messages appended again, the
 * sequences the stream no longer held (`gaps`), the appends JetStream
 * answered as duplicates, where the copies were stored and how long it took.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly stream: string
  readonly from: number
  readonly to: number
  readonly toSubject: string
  readonly filter: string | null
  readonly sequences: number
  readonly replayed: number
  readonly duplicates: number
  readonly gaps: number
  /** The stream the copies were stored in, and their first and last sequence; `null` when none was appended. */
  readonly appended: { readonly stream: string; readonly first: number; readonly last: number } | null
  readonly elapsedMillis: number
}

/**
 * Lists what the replay would append.
 *
 * @since 0.1.0
 * @category replaying
 */
export const dryRun = (plan: Plan, replay: Replay.Replay): Effect.Effect<DryRun, CommandError.CommandError> =>
  Effect.gen(function*() {
    const messages: Array<Planned> = []
    let gaps = 0
    yield* Stream.runForEach(replay.rawEvents, (event) =>
      Effect.sync(() => {
        if (event._tag === "Gap") {
          gaps += event.to - event.from + 1
          return
        }
        messages.push(planned(event.message))
      })).pipe(Effect.mapError(CommandError.transport))
    return {
      dryRun: true,
      stream: replay.stream,
      from: replay.from,
      to: replay.to,
      toSubject: plan.toSubject,
      filter: plan.filter ?? null,
      sequences: replay.total,
      gaps,
      messages
    }
  })

/**
 * Appends a copy of each message of the replay (read raw: Herald's and
 * foreign ones alike, as stored) to `plan.toSubject`, in sequence order.
 * The first append refused (no stream captures the subject, say) stops the
 * run with an `Incomplete` that says where it stopped and how many were
 * sent.
 *
 * @since 0.1.0
 * @category replaying
 */
export const execute = (
  plan: Plan,
  replay: Replay.Replay
): Effect.Effect<Summary, CommandError.CommandError, EventLog.EventLog> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    let replayed = 0
    let duplicates = 0
    let gaps = 0
    let appended: { stream: string; first: number; last: number } | null = null
    const events = Stream.mapError(replay.rawEvents, (error) =>
      CommandError.make(
        new CommandError.Incomplete({
          detail: `replay stopped after ${plural(replayed, "message")} sent to ${plan.toSubject}: ${error.message}`
        })
      ))
    yield* Stream.runForEach(events, (event) =>
      Effect.gen(function*() {
        if (event._tag === "Gap") {
          gaps += event.to - event.from + 1
          return
        }
        const m = event.message
        const result = yield* Resend.append(
          plan.toSubject,
          Resend.copy(m.raw, Resend.copyId(replay.stream, m.sequence, startedAt))
        )
        if (Result.isFailure(result)) {
          return yield* Effect.fail(
            CommandError.make(
              new CommandError.Incomplete({
                detail: `replay stopped at ${replay.stream} #${m.sequence} after ${plural(replayed, "message")} sent to ${plan.toSubject}: ${result.failure.message}`
              })
            )
          )
        }
        replayed++
        if (result.success.duplicate) duplicates++
        const at = result.success
        appended = appended === null
          ? { stream: at.stream, first: at.sequence, last: at.sequence }
          : { stream: appended.stream, first: appended.first, last: at.sequence }
      }))
    const finishedAt = yield* Clock.currentTimeMillis
    return {
      stream: replay.stream,
      from: replay.from,
      to: replay.to,
      toSubject: plan.toSubject,
      filter: plan.filter ?? null,
      sequences: replay.total,
      replayed,
      duplicates,
      gaps,
      appended,
      elapsedMillis: finishedAt - startedAt
    }
  })

const rateText = (rate: number): string => `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`

const leftText = (p: Replay.Progress): string =>
  p.finished ? "done" : p.remainingMillis === undefined ? "? left" : `${Format.duration(Math.max(1, Math.round(p.remainingMillis)))} left`

/**
 * The progress bar drawn on a terminal: `[#####.....]  450/1000  45%  312/s  2s left`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const progressBar = (p: Replay.Progress, width = 30): string => {
  const fraction = p.total === 0 ? 1 : Math.min(1, p.done / p.total)
  const filled = Math.floor(fraction * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]  ${p.done}/${p.total}  ${Math.floor(fraction * 100)}%  ${rateText(p.rate)}  ${leftText(p)}`
}

/**
 * A progress line for a log: `replayed 450/1000 sequences (45%), 312/s, 2s left`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const progressLine = (p: Replay.Progress): string => {
  const percent = p.total === 0 ? 100 : Math.floor((Math.min(p.done, p.total) / p.total) * 100)
  return `replayed ${p.done}/${p.total} sequences (${percent}%), ${rateText(p.rate)}, ${leftText(p)}`
}

const range = (stream: string, from: number, to: number): string =>
  from === to ? `${stream} #${from}` : `${stream} #${from}-#${to}`

/**
 * The summary for people: `replayed 12 messages of ORDERS #3-#14 to
 * orders.again (ORDERS #40-#51) in 250ms`, and the gaps and duplicates
 * when there were some.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summaryText = (s: Summary): string => {
  const into = s.appended === null ? "" : ` (${range(s.appended.stream, s.appended.first, s.appended.last)})`
  const notes = [
    ...(s.gaps > 0 ? [`${plural(s.gaps, "sequence")} no longer stored`] : []),
    ...(s.duplicates > 0 ? [`${plural(s.duplicates, "append")} answered as duplicate`] : []),
    ...(s.filter !== null ? [`subjects ${s.filter} only`] : [])
  ]
  return `replayed ${plural(s.replayed, "message")} of ${range(s.stream, s.from, s.to)} to ${s.toSubject}${into} in ${
    s.elapsedMillis === 0 ? "0ms" : Format.duration(s.elapsedMillis)
  }${notes.length === 0 ? "" : `; ${notes.join(", ")}`}`
}

/**
 * What `--dry-run` prints for people: the messages, then what would be done.
 *
 * @since 0.1.0
 * @category formatting
 */
export const dryRunText = (d: DryRun): string => {
  const table = Format.table(
    ["Seq", "Stored At", "Subject", "Type", "Message Id"],
    d.messages.map((m) => [
      String(m.sequence),
      Format.time(Date.parse(m.storedAt)),
      m.subject,
      m.type ?? "foreign",
      m.messageId ?? "-"
    ]),
    ["right", "left", "left", "left", "left"]
  )
  const gaps = d.gaps > 0 ? ` (${plural(d.gaps, "sequence")} no longer stored)` : ""
  return `${table}\n\ndry run: would replay ${plural(d.messages.length, "message")} of ${
    range(d.stream, d.from, d.to)
  } to ${d.toSubject}${gaps}`
}

/**
 * Draws the progress of a run: a bar rewritten in place on a terminal (at
 * most ten times a second), a line every second otherwise.
 *
 * @since 0.1.0
 * @category replaying
 */
export const showProgress = (progress: Stream.Stream<Replay.Progress>, terminal: boolean): Effect.Effect<void> =>
  Effect.gen(function*() {
    let printedAt = yield* Clock.currentTimeMillis
    let drawn = false
    yield* Stream.runForEach(progress, (p) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (terminal) {
          // at most ten redraws a second, and the last one
          if (drawn && !p.finished && now - printedAt < 100) return
          drawn = true
          printedAt = now
          yield* Effect.sync(() => process.stdout.write(`\r${progressBar(p)}\u001b[K`))
          return
        }
        if (p.finished || now - printedAt < 1000) return
        printedAt = now
        yield* Console.log(progressLine(p))
      }))
    if (drawn) yield* Effect.sync(() => process.stdout.write("\n"))
  })

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print a JSON summary for scripts"))

/**
 * The `replay` command, connecting with `connection`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = <E>(connection: Layer.Layer<NatsConnection.NatsConnection | EventLog.EventLog, E>) =>
  Command.make("replay", {
    json,
    stream: Argument.String("stream").pipe(Argument.withDescription("The stream to read")),
    toSubject: Flag.String("to-subject").pipe(Flag.withDescription("Where the messages are appended again")),
    from: Flag.String("from").pipe(
      Flag.optional,
      Flag.withDescription("First sequence, or time (ISO-8601, or an age such as 15m, 2h); default: the first stored")
    ),
    to: Flag.String("to").pipe(
      Flag.optional,
      Flag.withDescription("Last sequence, or time; default: the last stored when the replay starts")
    ),
    since: Flag.String("since").pipe(
      Flag.optional,
      Flag.withDescription("Messages stored since this time: ISO-8601, or an age such as 15m, 2h, 7d (instead of --from)")
    ),
    filter: Flag.String("filter").pipe(Flag.optional, Flag.withDescription("Only messages whose subject matches this pattern")),
    rate: Flag.Int("rate").pipe(Flag.optional, Flag.withDescription("At most this many messages per second")),
    dryRun: Flag.Boolean("dry-run").pipe(
      Flag.withDefault(false),
      Flag.withDescription("List the messages that would be replayed; append nothing")
    )
  }, (config) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (Option.isSome(config.from) && Option.isSome(config.since)) {
        return yield* Effect.fail(CommandError.invalid("give --from or --since, not both"))
      }
      const from = Option.isSome(config.from)
        ? yield* position(config.from.value, now)
        : Option.isSome(config.since)
        ? { _tag: "Time" as const, time: yield* Input.since(config.since.value, now) }
        : undefined
      const to = Option.isSome(config.to) ? yield* position(config.to.value, now) : undefined
      const toSubject = Subject.make(config.toSubject)
      if (Result.isFailure(toSubject)) {
        return yield* Effect.fail(
          CommandError.invalid(`--to-subject: invalid ${toSubject.failure.message}`)
        )
      }
      let filter: string | undefined
      if (Option.isSome(config.filter)) {
        const valid = SubjectPattern.make(config.filter.value)
        if (Result.isFailure(valid)) {
          return yield* Effect.fail(
            CommandError.invalid(`--filter: invalid ${valid.failure.message}`)
          )
        }
        filter = valid.success
      }
      const rate = Option.isSome(config.rate) ? yield* Input.limit(config.rate.value, "rate") : undefined
      const plan: Plan = { stream: config.stream, from, to, filter, toSubject: toSubject.success, rate }
      const replay = yield* open(plan)
      if (config.dryRun) {
        const listed = yield* dryRun(plan, replay)
        return yield* Console.log(config.json ? JSON.stringify(listed, null, 2) : dryRunText(listed))
      }
      const [summary] = yield* Effect.all([
        execute(plan, replay),
        config.json ? Effect.void : showProgress(replay.progress, process.stdout.isTTY === true)
      ], { concurrency: 2 })
      yield* Console.log(config.json ? JSON.stringify(summary, null, 2) : summaryText(summary))
    }).pipe(Effect.provide(connection))).pipe(
      Command.withDescription(
        "Append a range of a stream again to a subject (same Herald-Message-Id, fresh Nats-Msg-Id), with progress"
      )
    )
