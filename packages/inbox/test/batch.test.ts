import { SqliteClient } from "@herald/sql-sqlite"
import { TestDatabase } from "@herald/testing/pg"
import { batchSuite } from "./batchSuite.ts"

batchSuite("inbox with batched commits on PostgreSQL (in-memory EventLog)", TestDatabase.layerPg())
batchSuite("inbox with batched commits on SQLite (in-memory EventLog)", SqliteClient.layer({ filename: ":memory:" }))
