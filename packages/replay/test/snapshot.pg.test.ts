/**
 * `SnapshotSql` on PostgreSQL (`@effect/sql-pg`, one database per suite
 * from `TestDatabase`, a table of its own per test).
 */
import { TestDatabase } from "@herald/testing/pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("PostgreSQL", {
  dialect: "pg",
  shared: TestDatabase.layerPg(),
  fresh: () => Layer.effect(SqlClient.SqlClient, Effect.service(SqlClient.SqlClient))
})
