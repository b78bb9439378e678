/**
 * The correlation index on a real nats-server (one per file), with the
 * memory store and SQLite (a fresh `:memory:` database per test).
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CorrelationIndexMemory, CorrelationIndexSql } from "../src/index.ts"
import { correlationSuite } from "./correlationSuite.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "correlation-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

correlationSuite("CorrelationIndexMemory on nats-server", {
  shared: Nats,
  fresh: () => CorrelationIndexMemory.layer,
  kind: "memory",
  appendConcurrency: 64,
  tag: "NM"
})

correlationSuite("CorrelationIndexSql on SQLite, on nats-server", {
  shared: Nats,
  fresh: () => CorrelationIndexSql.layer().pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" }))),
  kind: "sql:sqlite",
  appendConcurrency: 64,
  tag: "NS"
})
