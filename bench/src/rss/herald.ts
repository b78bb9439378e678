/**
 * The Herald side of the peak RSS row (`cases/rss.ts`), in a fresh process
 * of its own: `NatsEventLog.layer` over a `NatsConnection` (as the bench's
 * Herald side), `EventLog.consume` with default options over the durable
 * consumer `CONSUMER` of `STREAM`, the handler decoding the payload
 * (`OrderPlaced.decode`) and reading the three ids (`fixtures.ts`
 * `heraldIn`), until `stats.acked` reaches `MESSAGES`; then the scope is
 * closed (the consumer stopped, the connection drained) and the process
 * prints one line of JSON with its peak RSS (`process.resourceUsage().maxRSS`,
 * kB).
 */
import { EventLog } from "@herald/transport"
import { NatsConnection, NatsEventLog } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { heraldIn, sink } from "../fixtures.ts"
import { arg, report } from "./report.ts"

const servers = arg("NATS_URL")
const stream = arg("STREAM")
const consumerName = arg("CONSUMER")
const n = Number(arg("MESSAGES"))

const run = Effect.gen(function*() {
  const rssBefore = process.memoryUsage().rss
  const t0 = performance.now()
  const acked = yield* Effect.scoped(Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const handle = yield* log.consume(stream, consumerName, (delivery) => heraldIn(delivery.envelope))
    let acked = 0
    while ((acked = (yield* handle.stats).acked) < n) yield* Effect.sleep(5)
    return acked
  }))
  return { count: acked, rssBefore, millis: performance.now() - t0 }
}).pipe(
  Effect.provide(NatsEventLog.layer.pipe(Layer.provide(NatsConnection.layer({ servers, name: "bench-rss-herald" }))))
)

report({ ...(await Effect.runPromise(run)), sink })
