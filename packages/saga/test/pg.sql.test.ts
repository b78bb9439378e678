/**
 * What only the SQL store does, on PostgreSQL (one database for the suite,
 * tables of their own per test).
 */
import { TestDatabase } from "@herald/testing/pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("SagaSql on PostgreSQL", {
  dialect: "pg",
  shared: TestDatabase.layerPg(),
  client: () => Layer.effect(SqlClient.SqlClient, Effect.service(SqlClient.SqlClient)),
  missingTable: "42P01"
})
