/**
 * What the inbox tests share: numbered envelopes, a counter table that
 * counts how often a handler's database effect was applied per message,
 * unique names, and bounded waits.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, type EventLog, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Envelope number `n`: id `IdGenerator.testId(n)`, body `{ n }`. */
export const envelope = (n: number, type = "test.Deposited"): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type,
    kind: "event",
    occurredAt: 1_700_000_000_000 + n,
    body: encoder.encode(JSON.stringify({ n }))
  })

export const idOf = (n: number): string => IdGenerator.testId(n)

export const nOf = (d: { readonly envelope: Envelope.Envelope }): number =>
  (JSON.parse(decoder.decode(d.envelope.body)) as { readonly n: number }).n

let counter = 0
/** Names no other test of this process uses. */
export const unique = (prefix: string) => {
  const id = `${++counter}_${Math.random().toString(36).slice(2, 7)}`
  return {
    table: `${prefix}_inbox_${id}`,
    counter: `${prefix}_counter_${id}`,
    stream: `${prefix}_${id}`.toUpperCase(),
    subject: `${prefix}${id.replace(/_/g, "")}`,
    consumer: `c_${id}`
  }
}

/** Creates a counter table: one row per message id, `n` = times applied. */
export const createCounter = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE ${sql(table)} (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)

/** The handler's database effect: counts one application of the message. */
export const bump = (table: string, messageId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO ${sql(table)} (message_id, n) VALUES (${messageId}, 1)
        ON CONFLICT (message_id) DO UPDATE SET n = ${sql(table)}.n + 1`)

/** message id → times applied. */
export const counts = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly message_id: string; readonly n: number | string }>`SELECT message_id, n FROM ${sql(table)}`,
      (rows) => new Map(rows.map((r) => [r.message_id, Number(r.n)]))
    ))

/** A retryable handler failure. */
export const boom = (detail = "boom") =>
  TransportError.make(new TransportError.HandlerFailed({ detail, retryable: true }))

/** The counts of a consumer's lag that say whether everything was acked. */
export const lagOf = (log: EventLog.EventLog["Service"], stream: string, consumer: string) =>
  Effect.map(log.lag(stream, consumer), (l) => ({ pending: l.pending, ackPending: l.ackPending, ackFloor: l.ackFloor }))
