/**
 * The SQL store for the contract suite: a saga table prefix and an outbox
 * table of its own per test, on the `SqlClient` of the context.
 */
import { Outbox, OutboxMigrations, OutboxSql } from "@herald/outbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { SagaSql } from "../src/index.ts"
import { Observed } from "./storeSuite.ts"

let tables = 0

/** A fresh prefix and outbox table. */
export const uniqueNames = () => {
  const n = ++tables
  return { prefix: `saga_${n}`, outbox: `saga_outbox_${n}` }
}

/** The outbox on a table, created when the layer is built. */
export const outboxOn = (table: string) =>
  Outbox.layer.pipe(
    Layer.provideMerge(OutboxSql.layer({ table })),
    Layer.provide(OutboxMigrations.layer({ table }))
  )

/** Reads the outbox table in insertion order. */
export const outboxRows = (table: string) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
    sql<{ readonly subject: string; readonly message_id: string; readonly partition_key: string | null }>`
      SELECT subject, message_id, partition_key FROM ${sql(table)} ORDER BY id`)

const observed = (table: string) =>
  Layer.effect(
    Observed,
    Effect.map(Effect.service(SqlClient.SqlClient), (sql) =>
      Observed.of({
        sent: Effect.map(
          outboxRows(table).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
          (rows) =>
            rows.map((r) => ({ subject: r.subject, messageId: r.message_id, partitionKey: r.partition_key ?? undefined }))
        )
      }))
  )

/** The SQL store with its outbox and the observer of the outbox table. */
export const sqlStore = (options?: { readonly names?: ReturnType<typeof uniqueNames> }) => {
  const names = options?.names ?? uniqueNames()
  return Layer.mergeAll(SagaSql.layer({ prefix: names.prefix }), observed(names.outbox)).pipe(
    Layer.provideMerge(outboxOn(names.outbox))
  )
}
