/**
 * Projection tables for the suite: a SQL table (PostgreSQL or SQLite, its
 * handler's SQL through the `SqlClient` of the context) and a map in memory.
 */
import type { EventLog } from "@herald/transport"
import { Fixtures } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { Row, Target } from "./projectionSuite.ts"

const payloadOf = (message: EventLog.StoredMessage): number =>
  (Fixtures.json(message.envelope) as { readonly n: number }).n

/** A table `(sequence PRIMARY KEY, n, applied)`: each application inserts, or adds 1 to `applied`. */
export const sqlTarget = (name: string): Effect.Effect<Target<SqlClient.SqlClient>, unknown, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = `${name}_rows`
    yield* sql`CREATE TABLE ${sql(table)} (sequence INTEGER PRIMARY KEY, n INTEGER NOT NULL, applied INTEGER NOT NULL)`
    return {
      handle: (message) =>
        Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
          sql`INSERT INTO ${sql(table)} (sequence, n, applied) VALUES (${message.sequence}, ${
            payloadOf(message)
          }, 1) ON CONFLICT (sequence) DO UPDATE SET applied = ${sql(table)}.applied + 1`).pipe(Effect.orDie, Effect.asVoid),
      reset: Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql`DELETE FROM ${sql(table)}`).pipe(
        Effect.orDie,
        Effect.asVoid
      ),
      rows: Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
        sql<{ readonly sequence: number; readonly n: number; readonly applied: number }>`
          SELECT sequence, n, applied FROM ${sql(table)} ORDER BY sequence`).pipe(
          Effect.map((rows): ReadonlyArray<Row> =>
            rows.map((r) => ({ sequence: Number(r.sequence), n: Number(r.n), applied: Number(r.applied) }))
          ),
          Effect.orDie
        )
    }
  })

/** A map in memory. */
export const memoryTarget = (): Effect.Effect<Target<never>> =>
  Effect.sync(() => {
    const rows = new Map<number, Row>()
    return {
      handle: (message) =>
        Effect.sync(() => {
          const found = rows.get(message.sequence)
          rows.set(message.sequence, {
            sequence: message.sequence,
            n: payloadOf(message),
            applied: (found?.applied ?? 0) + 1
          })
        }),
      reset: Effect.sync(() => rows.clear()),
      rows: Effect.sync(() => [...rows.values()].sort((a, b) => a.sequence - b.sequence))
    }
  })
