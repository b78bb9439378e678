import { SqliteClient } from "@herald/sql-sqlite"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("inbox on SQLite (in-memory EventLog)", SqliteClient.layer({ filename: ":memory:" }), { concurrentReaders: false })
