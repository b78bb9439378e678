/**
 * The dead letters of `herald dlq`: list, show, send again, purge. They are
 * read from the dead-letter stream (`Topology.deadLetterStream()`'s name,
 * `HERALD_DLQ`, unless another is given) with `EventLog.readRaw` /
 * `getRaw` and `DeadLetter.parse`.
 *
 * Sending a dead letter again (`retry`) appends what `DeadLetter.retry`
 * builds to the original subject: the original body and headers, the same
 * `Herald-Message-Id` (an inbox still recognises a message it already
 * handled) and a fresh `Nats-Msg-Id` (JetStream's duplicate window does not
 * swallow it); then the dead letter is removed (`NatsAdmin.deleteMessage`).
 *
 * @since 0.1.0
 */
import { DeadLetter, EventLog, Topology, Wire } from "@herald/transport"
import { NatsAdmin, type NatsConnection } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as CommandError from "./CommandError.ts"
import * as Format from "./Format.ts"
import * as Resend from "./Resend.ts"

/**
 * The name of the dead-letter stream Herald declares.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultStream: string = Topology.deadLetterStream().name

/**
 * A dead letter as `herald dlq list` shows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** Its sequence in the dead-letter stream. */
  readonly sequence: number
  /** ISO-8601 time it failed. */
  readonly failedAt: string
  readonly reason: string
  readonly deliveryCount: number
  readonly originalSubject: string
  readonly originalStream: string
  readonly originalConsumer: string
  readonly originalSequence: number
  /** `Herald-Message-Id`, `null` for a message without one. */
  readonly messageId: string | null
  /** `Herald-Type`, `null` for a message without one. */
  readonly type: string | null
}

/**
 * A dead letter as `herald dlq show` shows it: its entry, the original
 * headers and the body (as text when it is UTF-8, else base64).
 *
 * @since 0.1.0
 * @category models
 */
export interface Detail extends Entry {
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly bodyBytes: number
  readonly body: string | null
  readonly bodyBase64: string | null
}

/**
 * Which dead letters: these sequences, or all of them (matching `reason`, a
 * text the reason contains, ignoring case, and failed at or after `since`).
 *
 * @since 0.1.0
 * @category models
 */
export type Selection =
  | { readonly _tag: "Sequences"; readonly sequences: ReadonlyArray<number> }
  | { readonly _tag: "All"; readonly reason?: string | undefined; readonly since?: number | undefined }

/**
 * Filters of `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  readonly reason?: string | undefined
  readonly since?: number | undefined
  readonly limit?: number | undefined
}

/**
 * What `retry` did: the dead letters sent again (where the copy was
 * appended) and those it could not send, with why.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryReport {
  readonly retried: ReadonlyArray<{
    readonly sequence: number
    readonly subject: string
    readonly messageId: string | null
    readonly stream: string
    readonly appendedSequence: number
  }>
  readonly skipped: ReadonlyArray<{ readonly sequence: number; readonly error: string }>
}

const entryOf = (sequence: number, info: DeadLetter.Info, raw: Wire.RawMessage): Entry => ({
  sequence,
  failedAt: new Date(info.failedAt).toISOString(),
  reason: info.reason,
  deliveryCount: info.deliveryCount,
  originalSubject: info.subject,
  originalStream: info.stream,
  originalConsumer: info.consumer,
  originalSequence: info.sequence,
  messageId: raw.headers[Wire.HeaderNames.messageId] ?? null,
  type: raw.headers[Wire.HeaderNames.type] ?? null
})

const matches = (info: DeadLetter.Info, reason: string | undefined, since: number | undefined): boolean =>
  (reason === undefined || info.reason.toLowerCase().includes(reason.toLowerCase())) &&
  (since === undefined || info.failedAt >= since)

/** Every dead letter of the stream that matches, in sequence order. */
const scan = (stream: string, reason: string | undefined, since: number | undefined) =>
  Effect.flatMap(EventLog.EventLog, (log) =>
    log.readRaw(stream).pipe(
      Stream.filterMap((m) => {
        const info = DeadLetter.parse(m.raw)
        return info !== undefined && matches(info, reason, since)
          ? Result.succeed({ sequence: m.sequence, info, raw: m.raw })
          : Result.failVoid
      }),
      Stream.runCollect
    ))

/**
 * The dead letters of a stream, in sequence order (oldest first), at most
 * `limit`.
 *
 * @since 0.1.0
 * @category commands
 */
export const list = (
  stream: string,
  options?: ListOptions
): Effect.Effect<ReadonlyArray<Entry>, CommandError.CommandError, EventLog.EventLog> =>
  scan(stream, options?.reason, options?.since).pipe(
    Effect.map((letters) =>
      letters.slice(0, options?.limit ?? letters.length).map((l) => entryOf(l.sequence, l.info, l.raw))
    ),
    Effect.mapError(CommandError.transport)
  )

/** The dead letter at `sequence`, or `NotFound`. */
const one = (stream: string, sequence: number) =>
  Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const stored = yield* Effect.mapError(log.getRaw(stream, sequence), CommandError.transport)
    if (Option.isNone(stored)) return yield* Effect.fail(CommandError.notFound(`no message at sequence ${sequence} of ${stream}`))
    const info = DeadLetter.parse(stored.value.raw)
    if (info === undefined) {
      return yield* Effect.fail(CommandError.notFound(`the message at sequence ${sequence} of ${stream} is not a dead letter`))
    }
    return { sequence, info, raw: stored.value.raw }
  })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The dead letter at `sequence`.
 *
 * @since 0.1.0
 * @category commands
 */
export const show = (
  stream: string,
  sequence: number
): Effect.Effect<Detail, CommandError.CommandError, EventLog.EventLog> =>
  Effect.map(one(stream, sequence), ({ info, raw }) => {
    const text = Result.try(() => utf8.decode(raw.body))
    return {
      ...entryOf(sequence, info, raw),
      headers: DeadLetter.originalHeaders(raw),
      bodyBytes: raw.body.length,
      body: Result.isSuccess(text) ? text.success : null,
      bodyBase64: Result.isSuccess(text) ? null : Buffer.from(raw.body).toString("base64")
    }
  })

const selected = (stream: string, selection: Selection) =>
  selection._tag === "All"
    ? Effect.mapError(scan(stream, selection.reason, selection.since), CommandError.transport)
    : Effect.forEach(selection.sequences, (sequence) => one(stream, sequence))

/**
 * Sends the selected dead letters again, each to its original subject, and
 * removes each one sent. Every sequence given is looked up before anything
 * is sent (`NotFound` if one is not a dead letter). A dead letter that
 * cannot be sent as the original was (`DeadLetter.retry` refuses it), or
 * whose append is refused (its stream is gone, say), is skipped and kept;
 * a failure that may pass (a timeout, a lost connection) stops the command.
 *
 * @since 0.1.0
 * @category commands
 */
export const retry = (
  stream: string,
  selection: Selection
): Effect.Effect<RetryReport, CommandError.CommandError, EventLog.EventLog | NatsConnection.NatsConnection> =>
  Effect.gen(function*() {
    const letters = yield* selected(stream, selection)
    const retried: Array<RetryReport["retried"][number]> = []
    const skipped: Array<RetryReport["skipped"][number]> = []
    for (const letter of letters) {
      const message = DeadLetter.retry(stream, letter.sequence, letter.raw)
      if (Result.isFailure(message)) {
        skipped.push({ sequence: letter.sequence, error: message.failure.message })
        continue
      }
      const appended = yield* Resend.append(message.success.subject, message.success.message)
      if (Result.isFailure(appended)) {
        skipped.push({ sequence: letter.sequence, error: appended.failure.message })
        continue
      }
      yield* Effect.mapError(NatsAdmin.deleteMessage(stream, letter.sequence), CommandError.transport)
      retried.push({
        sequence: letter.sequence,
        subject: message.success.subject,
        messageId: letter.raw.headers[Wire.HeaderNames.messageId] ?? null,
        stream: appended.success.stream,
        appendedSequence: appended.success.sequence
      })
    }
    return { retried, skipped }
  })

/**
 * Removes the selected dead letters without sending them: the whole stream
 * for `All` without filters, else one by one. Every sequence given is
 * looked up first (`NotFound` if one is not a dead letter). Answers how
 * many were removed.
 *
 * @since 0.1.0
 * @category commands
 */
export const purge = (
  stream: string,
  selection: Selection
): Effect.Effect<
  { readonly purged: number },
  CommandError.CommandError,
  EventLog.EventLog | Topology.Topology | NatsConnection.NatsConnection
> =>
  Effect.gen(function*() {
    if (selection._tag === "All" && selection.reason === undefined && selection.since === undefined) {
      const topology = yield* Topology.Topology
      return yield* topology.purge(stream).pipe(
        Effect.map((r) => ({ purged: r.purged })),
        Effect.mapError(CommandError.transport)
      )
    }
    const letters = yield* selected(stream, selection)
    let purged = 0
    for (const letter of letters) {
      const removed = yield* Effect.mapError(NatsAdmin.deleteMessage(stream, letter.sequence), CommandError.transport)
      if (removed) purged++
    }
    return { purged }
  })

/**
 * The dead letters as a table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const listTable = (entries: ReadonlyArray<Entry>): string =>
  Format.table(
    ["Seq", "Failed At", "Subject", "Consumer", "Deliveries", "Type", "Reason"],
    entries.map((e) => [
      String(e.sequence),
      Format.time(Date.parse(e.failedAt)),
      e.originalSubject,
      `${e.originalStream}/${e.originalConsumer}`,
      String(e.deliveryCount),
      e.type ?? "-",
      Format.clip(e.reason, 80)
    ]),
    ["right", "left", "left", "left", "right", "left", "left"]
  )

/**
 * One dead letter, field by field, then its headers and body.
 *
 * @since 0.1.0
 * @category formatting
 */
export const detailText = (stream: string, d: Detail): string => {
  const fields: ReadonlyArray<readonly [string, string]> = [
    ["Dead letter", `${stream} #${d.sequence}`],
    ["Failed at", Format.time(Date.parse(d.failedAt))],
    ["Reason", d.reason],
    ["Deliveries", String(d.deliveryCount)],
    ["Subject", d.originalSubject],
    ["Stream", `${d.originalStream} #${d.originalSequence}`],
    ["Consumer", d.originalConsumer],
    ["Message id", d.messageId ?? "-"],
    ["Type", d.type ?? "-"]
  ]
  const width = Math.max(...fields.map(([name]) => name.length))
  const lines = fields.map(([name, value]) => `${`${name}:`.padEnd(width + 2)}${value}`)
  lines.push("", "Headers:")
  for (const [name, value] of d.headers) lines.push(`  ${name}: ${value}`)
  if (d.headers.length === 0) lines.push("  (none)")
  lines.push("", `Body (${Format.bytes(d.bodyBytes)}${d.body === null ? ", base64" : ""}):`)
  lines.push(d.body ?? d.bodyBase64 ?? "")
  return lines.join("\n")
}

/**
 * What `retry` did, as a table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const retryTable = (report: RetryReport): string => {
  const rows = [
    ...report.retried.map((r) => [String(r.sequence), "sent again", `${r.subject} (${r.stream} #${r.appendedSequence})`]),
    ...report.skipped.map((s) => [String(s.sequence), "kept", s.error])
  ].sort((a, b) => Number(a[0]) - Number(b[0]))
  return Format.table(["Seq", "Outcome", "Detail"], rows, ["right", "left", "left"])
}
