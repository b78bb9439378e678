/**
 * One consumer process of `processes.test.ts`, run as
 * `node --conditions=@herald/source worker.ts` with its settings in the
 * environment:
 *
 * - `MODE=durable`: the Herald runner on the durable consumer
 *   `CONSUMER` of `STREAM`, guarded by the inbox (table `INBOX`); the
 *   handler's effect is a row of `APPLIED` naming this worker;
 * - `MODE=queue`: a core NATS subscription to `SUBJECT` in the queue group
 *   `QUEUE`; each message received is a row of `RECEIVED` naming this worker.
 *
 * It prints `READY` once it consumes, then a `STATS {json}` line every 200 ms
 * and at its end; SIGTERM ends it gracefully.
 */
import { PgClient } from "@effect/sql-pg"
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import { Bus, EventLog } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`worker: ${name} is not set`)
  return value
}

const worker = env("WORKER")
const mode = env("MODE")
const decoder = new TextDecoder()
const stats = { deliveries: 0, redelivered: 0, applied: 0, duplicates: 0, received: 0 }
const printStats = Effect.sync(() => void process.stdout.write(`STATS ${JSON.stringify(stats)}\n`))

const consumeDurable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const log = yield* EventLog.EventLog
  const applied = env("APPLIED")
  const store = yield* InboxSql.make({ table: env("INBOX") })
  const guarded = Inbox.middleware({ onDuplicate: () => Effect.sync(() => void stats.duplicates++) })(
    (d: EventLog.Delivery) =>
      sql`INSERT INTO ${sql(applied)} (message_id, n, worker) VALUES (${d.envelope.identity.messageId}, 1, ${worker})
          ON CONFLICT (message_id) DO UPDATE SET n = ${sql(applied)}.n + 1`.pipe(
        Effect.tap(() => Effect.sync(() => void stats.applied++))
      )
  )
  yield* log.consume(env("STREAM"), env("CONSUMER"), (d) =>
    Effect.suspend(() => {
      stats.deliveries++
      if (d.deliveryCount > 1) stats.redelivered++
      return guarded(d)
    }), { concurrency: 8 }).pipe(Effect.provideService(InboxStore.InboxStore, store))
})

const consumeQueue = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const bus = yield* Bus.Bus
  const received = env("RECEIVED")
  const messages = yield* bus.subscribe(env("SUBJECT"), { queue: env("QUEUE") })
  yield* Effect.forkScoped(Stream.runForEach(messages, (m) => {
    const { n } = JSON.parse(decoder.decode(m.envelope.body)) as { readonly n: number }
    stats.received++
    return sql`INSERT INTO ${sql(received)} (n, worker, copies) VALUES (${n}, ${worker}, 1)
               ON CONFLICT (n) DO UPDATE SET copies = ${sql(received)}.copies + 1`
  }))
})

const program = Effect.scoped(Effect.gen(function*() {
  yield* mode === "queue" ? consumeQueue : consumeDurable
  yield* Effect.sync(() => void process.stdout.write("READY\n"))
  yield* Effect.addFinalizer(() => printStats)
  yield* printStats.pipe(Effect.repeat(Schedule.spaced("200 millis")))
}))

const layer = Layer.mergeAll(
  NatsTransport.layer({
    servers: env("NATS_URLS").split(","),
    name: `${mode}-worker-${worker}`,
    reconnectTimeWait: "250 millis"
  }),
  PgClient.layer({
    host: "127.0.0.1",
    port: 5432,
    username: "postgres",
    database: env("PG_DATABASE"),
    maxConnections: 10,
    applicationName: `herald-worker-${worker}`
  })
)

const fiber = Effect.runFork(program.pipe(Effect.provide(layer)))
process.once("SIGTERM", () => void Effect.runFork(Fiber.interrupt(fiber)))
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !exit.cause.reasons.every((r) => r._tag === "Interrupt")) {
    process.stderr.write(`worker ${worker} failed: ${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
