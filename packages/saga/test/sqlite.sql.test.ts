/**
 * What only the SQL store does, on SQLite (a fresh `:memory:` database per test).
 */
import { SqliteClient } from "@herald/sql-sqlite"
import * as Layer from "effect/Layer"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("SagaSql on SQLite", {
  dialect: "sqlite",
  shared: Layer.empty,
  client: () => SqliteClient.layer({ filename: ":memory:" }),
  missingTable: "SQLITE_ERROR"
})
