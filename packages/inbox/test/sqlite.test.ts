import { SqliteClient } from "@effect/sql-sqlite-node"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("inbox on SQLite (in-memory EventLog)", SqliteClient.layer({ filename: ":memory:" }), { concurrentReaders: false })
