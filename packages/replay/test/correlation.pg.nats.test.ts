/**
 * The correlation index on a real nats-server (one per file) with the SQL
 * store on PostgreSQL (one database for the suite, a table per test).
 */
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CorrelationIndexSql } from "../src/index.ts"
import { correlationSuite } from "./correlationSuite.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "correlation-pg-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

let tables = 0
correlationSuite("CorrelationIndexSql on PostgreSQL, on nats-server", {
  shared: Layer.merge(Nats, TestDatabase.layerPg()),
  fresh: () => CorrelationIndexSql.layer({ table: `corr_nats_${++tables}` }),
  kind: "sql:pg",
  appendConcurrency: 64,
  tag: "NP"
})
