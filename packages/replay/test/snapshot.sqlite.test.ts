/**
 * `SnapshotSql` on SQLite (`@herald/sql-sqlite`, a fresh `:memory:`
 * database per test).
 */
import { SqliteClient } from "@herald/sql-sqlite"
import * as Layer from "effect/Layer"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("SQLite", {
  dialect: "sqlite",
  shared: Layer.empty,
  fresh: () => SqliteClient.layer({ filename: ":memory:" })
})
