/**
 * The raw side of the peak RSS row (`cases/rss.ts`), in a fresh process of
 * its own: nats.js only (nothing of Herald or Effect is loaded), connected as
 * the bench's raw side is (`noAsyncTraces: true`); `consume()` with nats.js
 * defaults over the durable consumer `CONSUMER` of `STREAM`, per message
 * `m.json()` and the three ids from the headers (as `fixtures.ts` `rawIn`),
 * then `m.ack()`, until `MESSAGES` are acked; then the connection is flushed
 * and closed and the process prints one line of JSON with its peak RSS
 * (`process.resourceUsage().maxRSS`, kB).
 */
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { arg, report } from "./report.ts"

const servers = arg("NATS_URL")
const stream = arg("STREAM")
const consumerName = arg("CONSUMER")
const n = Number(arg("MESSAGES"))

interface Order {
  readonly id: string
  readonly amount: number
  readonly note: string
}

let sink = 0
const nc = await connect({ servers, name: "bench-rss-raw", noAsyncTraces: true })
const rssBefore = process.memoryUsage().rss
const t0 = performance.now()
const consumer = await jetstream(nc).consumers.get(stream, consumerName)
const messages = await consumer.consume()
let count = 0
for await (const m of messages) {
  const order = m.json<Order>()
  const h = m.headers!
  const id = h.get("Herald-Message-Id")
  const correlation = h.get("Herald-Correlation-Id")
  const causation = h.get("Herald-Causation-Id")
  sink += order.amount + id.length + correlation.length + causation.length
  m.ack()
  if (++count === n) break
}
await nc.flush()
const t1 = performance.now()
await messages.close()
await nc.close()
report({ count, sink, rssBefore, millis: t1 - t0 })
