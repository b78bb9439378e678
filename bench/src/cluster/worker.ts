/**
 * One consumer process of `cluster/main.ts`: connects to the cluster, says
 * `CONNECTED`, waits for `GO` on stdin, then consumes the durable consumer
 * `CONSUMER` of `STREAM` (acking every message; `SIDE=herald`: Herald's
 * runner, `concurrency` 16; `SIDE=raw`: nats.js `consume()`), printing
 * `COUNT <n>` every 250 ms, until SIGTERM.
 */
import { EventLog } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Readline from "node:readline"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`cluster worker: ${name} is not set`)
  return value
}

const servers = env("NATS_URLS").split(",")
const stream = env("STREAM")
const consumer = env("CONSUMER")
let count = 0

const go = new Promise<void>((resolve) => {
  Readline.createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "GO") resolve()
  })
})
const report = setInterval(() => process.stdout.write(`COUNT ${count}\n`), 250)

if (env("SIDE") === "raw") {
  const nc = await connect({ servers, name: "bench-raw" })
  const js = jetstream(nc)
  const c = await js.consumers.get(stream, consumer)
  process.stdout.write("CONNECTED\n")
  await go
  const messages = await c.consume()
  process.once("SIGTERM", () => {
    clearInterval(report)
    void messages.close().then(() => nc.close())
  })
  for await (const m of messages) {
    m.ack()
    count++
  }
} else {
  const program = Effect.scoped(Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    yield* Effect.sync(() => void process.stdout.write("CONNECTED\n"))
    yield* Effect.promise(() => go)
    yield* log.consume(stream, consumer, () => Effect.sync(() => void count++), { concurrency: 16 })
    yield* Effect.never
  })).pipe(Effect.provide(NatsTransport.layer({ servers, name: "bench-herald" })))
  const fiber = Effect.runFork(program)
  process.once("SIGTERM", () => {
    clearInterval(report)
    Effect.runFork(Fiber.interrupt(fiber))
  })
}
