/**
 * Runs the orders example and prints what happened to each order, the state
 * of each service, and the causation tree of the compensated order.
 *
 * With no setup it runs on the in-memory transport and a SQLite file in a
 * temporary folder of its own (a new one on every run). `NATS_URL` runs it on NATS
 * (credentials as `NatsConnection.layerConfig` reads them: `NATS_TOKEN`,
 * `NATS_USER` / `NATS_PASSWORD`, ...); `DATABASE_URL` on PostgreSQL
 * (`postgres://...`) or on a SQLite file of your choice (a path). The
 * metrics endpoint listens on `METRICS_PORT` (default: a free port).
 */
import { PgClient } from "@effect/sql-pg"
import { IdGenerator } from "@herald/identity"
import { MetricsHttp } from "@herald/metrics"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as App from "./App.ts"
import { InventoryService } from "./InventoryService.ts"
import { OrderService } from "./OrderService.ts"
import { PaymentService } from "./PaymentService.ts"

const env = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : value
}

const natsUrl = env("NATS_URL")
const transport = natsUrl === undefined
  ? { name: "the in-memory transport", layer: MemoryTransport.layer, nats: false }
  : { name: `NATS at ${natsUrl}`, layer: NatsTransport.layerConfig({ name: "herald-orders" }), nats: true }

const hidePassword = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]+):[^@]*@/, "$1:***@")

const databaseUrl = env("DATABASE_URL")
const database = (() => {
  if (databaseUrl !== undefined && /^postgres(ql)?:\/\//.test(databaseUrl)) {
    return { name: `PostgreSQL at ${hidePassword(databaseUrl)}`, url: hidePassword(databaseUrl), layer: PgClient.layer({ url: Redacted.make(databaseUrl) }) }
  }
  let filename = databaseUrl?.replace(/^(sqlite|file):/, "")
  if (filename === undefined) {
    // A folder of its own, left in place after the run so that the CLI can open the file.
    filename = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "herald-orders-")), "orders.db")
  }
  return { name: `SQLite at ${filename}`, url: filename, layer: SqliteClient.layer({ filename }) }
})()

const metricsPort = Number(env("METRICS_PORT") ?? 0)
if (!Number.isSafeInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
  console.error(`METRICS_PORT must be a port number, got ${JSON.stringify(env("METRICS_PORT"))}`)
  process.exit(2)
}

const dollars = (cents: number): string => `$${(cents / 100).toFixed(2)}`
const pad = (s: string, n: number): string => s.padEnd(n)

const main = Effect.gen(function*() {
  yield* Console.log(`Herald orders example on ${transport.name}, ${database.name}\n`)
  const timeout = Duration.format(Duration.fromInputUnsafe(App.defaults.paymentTimeout))
  yield* Console.log(`placing ${App.orders.length} orders (a payment not answered within ${timeout} cancels its order)\n`)
  const result = yield* App.run(App.orders)

  for (const order of result.view) {
    const line = [
      pad(order.orderId, 8),
      pad(order.customer, 6),
      pad(`${order.quantity} × ${order.sku}`, 10),
      dollars(order.amount).padStart(8),
      "  " + App.outcome(order)
    ]
    yield* Console.log(line.join(" "))
  }

  const payments = yield* (yield* PaymentService).payments
  const byStatus = new Map<string, number>(["charged", "refunded", "declined", "awaiting authentication"].map((s) => [s, 0]))
  for (const p of payments.filter((p) => result.orders.some((o) => o.orderId === p.orderId))) {
    byStatus.set(p.status, (byStatus.get(p.status) ?? 0) + 1)
  }
  const inventory = yield* InventoryService
  const stock = yield* inventory.stock
  const counts = {
    orders: (yield* (yield* OrderService).stats).applied,
    payments: (yield* (yield* PaymentService).stats).applied,
    inventory: (yield* inventory.stats).applied
  }
  yield* Console.log(`\npayments:  ${[...byStatus].map(([status, n]) => `${n} ${status}`).join(", ")}`)
  yield* Console.log(`stock:     ${stock.map((s) => `${s.sku} ${s.available} left (${s.reserved} reserved)`).join(", ")}`)
  yield* Console.log(
    `inbox:     commands applied once each: orders ${counts.orders}, payments ${counts.payments}, inventory ${counts.inventory}`
  )

  // The read model is only the events folded in order: replaying the stream rebuilds it equal.
  const rebuilt = yield* App.rebuildView
  yield* Console.log(`read model: ${rebuilt.orders} orders; rebuilt by replaying ${rebuilt.replayed} messages: identical`)

  const server = yield* MetricsHttp.MetricsServer
  const text = yield* Effect.tryPromise(() => fetch(`${server.url}/metrics`).then((r) => r.text()))
  const consumed = App.consumedCounts(text)
  yield* Console.log(
    `metrics:   http://localhost:${server.port}/metrics, messages consumed: ${
      Object.entries(consumed).sort().map(([c, n]) => `${c} ${n}`).join(", ")
    }`
  )

  const compensated = result.compensated
  if (compensated !== undefined) {
    yield* Console.log(
      `\n${compensated.orderId} was compensated. Its flow, ${result.flow.length} messages (correlation id ${compensated.correlationId}):\n`
    )
    yield* Console.log(result.tree)
    // `herald tree` reads the flow from the correlation index alone: the SQLite file of a run on memory will do.
    yield* Console.log(`\nFollow it with the CLI:\n  DATABASE_URL=${database.url} herald tree ${compensated.correlationId}`)
  }
})

const Live = App.layer({ ...App.defaults, metricsPort }).pipe(
  Layer.provideMerge(Layer.mergeAll(transport.layer, database.layer, IdGenerator.layer))
)

Effect.runPromiseExit(Effect.scoped(main).pipe(Effect.provide(Live))).then((exit) => {
  if (Exit.isFailure(exit)) {
    console.error(String(exit.cause))
    process.exitCode = 1
  }
})
