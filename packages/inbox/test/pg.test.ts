import { TestDatabase } from "@herald/testing/pg"
import { sqlSuite } from "./sqlSuite.ts"

sqlSuite("inbox on PostgreSQL (in-memory EventLog)", TestDatabase.layerPg(), { concurrentReaders: true })
