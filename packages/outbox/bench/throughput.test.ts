/**
 * Relay throughput against raw pipelined JetStream publishes (nats.js, 256
 * in flight, the same headers and bodies), on one nats-server, interleaved
 * round by round so that both sides see the same machine:
 *
 *   pnpm --filter @herald/outbox bench
 *
 * `OUTBOX_BENCH_N` messages per run (default 20,000), `OUTBOX_BENCH_ROUNDS`
 * (default 3). Prints, per case, the median of relay / raw.
 */
import { describe, layer } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { Wire } from "@herald/transport"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { headers as natsHeaders } from "@nats-io/nats-core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "../src/index.ts"
import { ensureStream, envelope } from "../test/helpers.ts"

const N = Number(process.env["OUTBOX_BENCH_N"] ?? "20000")
const ROUNDS = Number(process.env["OUTBOX_BENCH_ROUNDS"] ?? "3")

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) => NatsTransport.layer({ servers: server.url }))
).pipe(Layer.provideMerge(NatsServer.layer()))

let runs = 0

/** N raw publishes, 256 in flight, Herald's headers built once with the ids set per message (as bench/). */
const raw = Effect.gen(function*() {
  const run = ++runs
  yield* ensureStream(`RAW${run}`, [`raw${run}.>`])
  const messages = Array.from({ length: N }, (_, i) => Result.getOrThrow(Wire.encode(envelope(run * 1_000_000 + i + 1))))
  const headers = natsHeaders()
  for (const name in messages[0]!.headers) headers.append(name, messages[0]!.headers[name]!)
  const { jetstream } = yield* NatsConnection.NatsConnection
  const t0 = performance.now()
  yield* Effect.promise(async () => {
    let next = 0
    const lane = async () => {
      while (next < N) {
        const m = messages[next++]!
        const id = m.headers["Nats-Msg-Id"]!
        headers.set("Herald-Message-Id", id)
        await jetstream.publish(`raw${run}.placed`, m.body, { msgID: id, headers })
      }
    }
    await Promise.all(Array.from({ length: 256 }, lane))
  })
  return N / ((performance.now() - t0) / 1000)
})

/** N messages committed to a fresh table (untimed), then relayed (timed: layer start to the last one sent). */
const relay = (options: OutboxRelay.Options, keys: number) =>
  Effect.gen(function*() {
    const run = ++runs
    const table = `bench_${run}`
    return yield* Effect.gen(function*() {
      yield* ensureStream(`RELAY${run}`, [`relay${run}.>`])
      const sql = yield* SqlClient.SqlClient
      for (let i = 0; i < N; i += 1_000) {
        yield* sql.withTransaction(Outbox.publishAll(Array.from({ length: Math.min(1_000, N - i) }, (_, j) => {
          const n = i + j + 1
          return {
            subject: `relay${run}.placed`,
            envelope: envelope(run * 1_000_000 + n),
            ...(keys === 0 ? {} : { partitionKey: `k${n % keys}` })
          }
        })))
      }
      const t0 = performance.now()
      yield* Effect.scoped(Effect.gen(function*() {
        const relay = yield* OutboxRelay.make(options)
        while ((yield* relay.stats).published < N) yield* Effect.sleep("2 millis")
      }))
      return N / ((performance.now() - t0) / 1000)
    }).pipe(Effect.provide(Outbox.layer.pipe(
      Layer.provideMerge(OutboxSql.layer({ table })),
      Layer.provide(OutboxMigrations.layer({ table }))
    )))
  })

const cases: ReadonlyArray<readonly [string, OutboxRelay.Options, number]> = [
  ["1 relay, defaults", {}, 0],
  ["1 relay, batch 200", { batchSize: 200 }, 0],
  ["2 relays", { relays: 2 }, 0],
  ["1 relay, 1000 keys", {}, 1000],
  ["1 relay, 10 keys", {}, 10]
]

const report = (name: string) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    for (const [label, options, keys] of cases) {
      const ratios: Array<number> = []
      const rates: Array<number> = []
      for (let r = 0; r < ROUNDS; r++) {
        const base = yield* raw
        const rate = yield* relay(options, keys)
        ratios.push(rate / base)
        rates.push(rate)
      }
      ratios.sort((a, b) => a - b)
      rates.sort((a, b) => a - b)
      const mid = Math.floor(ROUNDS / 2)
      lines.push(`  ${label}: ${Math.round(rates[mid]!)} msgs/s, ${ratios[mid]!.toFixed(2)} x raw (median of ${ROUNDS})`)
    }
    console.log(`\n${name}, ${N} messages per run\n${lines.join("\n")}`)
  })

describe("outbox relay throughput", () => {
  layer(Layer.mergeAll(TestDatabase.layerPg(), Nats), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect("PostgreSQL", () => report("PostgreSQL"), 900_000)
  })
  layer(Layer.mergeAll(SqliteClient.layer({ filename: ":memory:" }), Nats), {
    excludeTestServices: true,
    timeout: "120 seconds"
  })((it) => {
    it.effect("SQLite", () => report("SQLite :memory:"), 900_000)
  })
})
