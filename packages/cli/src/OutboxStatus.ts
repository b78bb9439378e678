/**
 * `herald outbox status`: the state of an outbox table, from
 * `@herald/outbox`'s `Outbox.status` over the SQL store (`OutboxSql`).
 *
 * @since 0.1.0
 */
import { Outbox, OutboxSql } from "@herald/outbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as CommandError from "./CommandError.ts"
import * as Database from "./Database.ts"
import * as Format from "./Format.ts"

/**
 * The default outbox table.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable = "herald_outbox"

/**
 * The state of an outbox table.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusReport {
  readonly table: string
  /** Not yet sent (parked ones not counted), leased or not. */
  readonly pending: number
  /** Pending, leased to a relay right now. */
  readonly leased: number
  /** Pending, failed at least once, waiting for the next attempt. */
  readonly retrying: number
  /** Parked after the relay's `maxAttempts`: not retried until requeued. */
  readonly parked: number
  /** Sent and still kept (until the relay's retention ends). */
  readonly sent: number
  /** ISO-8601 time the oldest pending message was written, `null` when none is pending. */
  readonly oldestPendingAt: string | null
  /** Milliseconds the oldest pending message has waited (0 when none). */
  readonly oldestPendingAgeMillis: number
  /** The highest attempt count among unsent messages. */
  readonly maxAttempts: number
  /** The most recent failure among unsent messages. */
  readonly lastError: {
    readonly messageId: string
    readonly subject: string
    readonly state: string
    readonly attempts: number
    readonly error: string
    /** ISO-8601, `null` if never attempted. */
    readonly at: string | null
  } | null
}

/**
 * The state of the outbox in `table`.
 *
 * @since 0.1.0
 * @category queries
 */
export const status = (
  options?: { readonly table?: string | undefined }
): Effect.Effect<StatusReport, CommandError.CommandError, SqlClient.SqlClient | Database.Database> => {
  const table = options?.table ?? defaultTable
  return Database.requireTables([table], "the outbox (@herald/outbox)").pipe(
    Effect.andThen(Outbox.status),
    Effect.map((s): StatusReport => ({
      table,
      pending: s.pending,
      leased: s.leased,
      retrying: s.retrying,
      parked: s.parked,
      sent: s.sent,
      oldestPendingAt: s.oldestPendingAt === undefined ? null : new Date(s.oldestPendingAt).toISOString(),
      oldestPendingAgeMillis: s.oldestPendingAgeMillis,
      maxAttempts: s.maxAttempts,
      lastError: s.lastError === undefined ? null : {
        messageId: s.lastError.messageId,
        subject: s.lastError.subject,
        state: s.lastError.state,
        attempts: s.lastError.attempts,
        error: s.lastError.lastError,
        at: s.lastError.lastAttemptAt === undefined ? null : new Date(s.lastError.lastAttemptAt).toISOString()
      }
    })),
    Effect.provide(Outbox.layer.pipe(Layer.provide(OutboxSql.layer({ table, notify: false, listen: false })))),
    Effect.mapError(Database.failed("cannot read the outbox"))
  )
}

/**
 * The state for people; `now` for the age of the oldest pending message.
 *
 * @since 0.1.0
 * @category formatting
 */
export const text = (report: StatusReport, now: number): string => {
  const rows: Array<[string, string]> = [
    ["Pending", String(report.pending)],
    ["  leased", String(report.leased)],
    ["  retrying", String(report.retrying)],
    [
      "Oldest pending",
      report.oldestPendingAt === null
        ? "-"
        : `${Format.time(Date.parse(report.oldestPendingAt))} (${Format.ago(Date.parse(report.oldestPendingAt), now)})`
    ],
    ["Parked", String(report.parked)],
    ["Sent (kept)", String(report.sent)],
    ["Max attempts", String(report.maxAttempts)]
  ]
  if (report.lastError !== null) {
    const e = report.lastError
    rows.push([
      "Last error",
      `${Format.clip(e.error, 120)} (${e.messageId} on ${e.subject}, ${e.state}, ${e.attempts} attempt${
        e.attempts === 1 ? "" : "s"
      }${e.at === null ? "" : `, ${Format.time(Date.parse(e.at))}`})`
    ])
  }
  const width = Math.max(...rows.map(([name]) => name.length))
  return [`Outbox ${report.table}`, "", ...rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`)].join("\n")
}
