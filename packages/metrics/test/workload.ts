/**
 * A known workload over an instrumented transport, then `/metrics` scraped
 * over HTTP and parsed. Shared by the memory and nats-server suites.
 */
import { assert } from "@effect/vitest"
import { Fixtures, Wait } from "@herald/testing"
import { Bus, EventLog, Topology, TransportError } from "@herald/transport"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { MetricsHttp } from "../src/index.ts"

/** A non-retryable handler failure. */
export class Rejected extends Data.TaggedError("Rejected")<{ readonly n: number }> {
  get isRetryable(): boolean {
    return false
  }
}

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the Prometheus text format (the sample lines). */
export const parse = (text: string): ReadonlyArray<Sample> => {
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[3] ?? "").matchAll(labelRe)) {
      labels[l[1]!] = l[2]!.replace(/\\"/g, "\"").replace(/\\n/g, "\n").replace(/\\\\/g, "\\")
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) })
  }
  return samples
}

/** The samples of a metric whose labels include `where`. */
export const select = (
  samples: ReadonlyArray<Sample>,
  name: string,
  where: Readonly<Record<string, string | undefined>> = {}
): ReadonlyArray<Sample> =>
  samples.filter((s) =>
    s.name === name &&
    Object.entries(where).every(([k, v]) => v === undefined ? !(k in s.labels) : s.labels[k] === v)
  )

/** The sum of the values of the matching samples. */
export const total = (
  samples: ReadonlyArray<Sample>,
  name: string,
  where: Readonly<Record<string, string | undefined>> = {}
): number => select(samples, name, where).reduce((n, s) => n + s.value, 0)

/** GETs a path of the served endpoints. */
export const get = (path: string, init?: RequestInit) =>
  Effect.flatMap(MetricsServerUrl, (url) =>
    Effect.promise(async () => {
      const res = await fetch(`${url}${path}`, init)
      return { status: res.status, contentType: res.headers.get("content-type"), body: await res.text() }
    }))

const MetricsServerUrl = Effect.map(Effect.service(MetricsHttp.MetricsServer), (s) => s.url)

export const scrape = Effect.map(get("/metrics"), (r) => {
  assert.strictEqual(r.status, 200)
  assert.strictEqual(r.contentType, "text/plain; version=0.0.4; charset=utf-8")
  return { text: r.body, samples: parse(r.body) }
})

export const destinations = ["orders.*.placed", "rpc.*"] as const

/** The Bus and EventLog workload; `prefix` keeps the names of concurrent runs apart. */
export const workload = (options: {
  readonly stream: string
  readonly prefix: string
  readonly advance: (d: Duration.Duration) => Effect.Effect<void>
}) =>
  Effect.gen(function*() {
    const { prefix, stream } = options
    const bus = yield* Bus.Bus
    const log = yield* EventLog.EventLog
    yield* Topology.ensure({
      streams: [{ name: stream, subjects: [`${prefix}ledger.>`] }, Topology.deadLetterStream()],
      consumers: [{ stream, name: "billing", maxDeliver: 3 }]
    })

    // Bus: 5 publishes on orders.<n>.placed (one subscriber), 2 on misc.<n>, 3 requests to rpc.<n>.
    const received = yield* bus.subscribe(`orders.*.placed`)
    const receiving = yield* Effect.forkChild(Stream.runCollect(Stream.take(received, 5)))
    yield* bus.serve("rpc.*", (request) => Effect.succeed(request.envelope))
    for (let n = 1; n <= 5; n++) yield* bus.publish(`orders.${n}.placed`, Fixtures.envelope({ identity: 100 + n }))
    for (let n = 1; n <= 2; n++) yield* bus.publish(`misc.${n}`, Fixtures.envelope({ identity: 200 + n }))
    for (let n = 1; n <= 3; n++) yield* bus.request(`rpc.${n}`, Fixtures.envelope({ identity: 300 + n }))
    assert.strictEqual((yield* Fiber.join(receiving)).length, 5)

    // EventLog: 10 appends, 1 raw append that is not a valid envelope.
    for (let n = 1; n <= 10; n++) {
      yield* log.append(`${prefix}ledger.${n}.entry`, Fixtures.envelope({ identity: 400 + n, payload: { n } }))
    }
    yield* log.appendRaw(`${prefix}ledger.11.entry`, Fixtures.rawMalformed("missingId", Fixtures.envelope({ identity: 411 })))

    // Sequences 1-6 succeed; 7 fails once (retryable); 8 is rejected (dead letter,
    // non-retryable; so is a 12th, if any); 9 always fails (dead letter on delivery 3 of 3); 10 hangs past
    // the deadline once; 11 is undecodable (dead letter, never handled).
    const handle = yield* log.consume(stream, "billing", (d): Effect.Effect<void, TransportError.TransportError | Rejected> => {
      const n = d.streamSequence
      if (n === 7 && d.deliveryCount === 1) {
        return Effect.fail(TransportError.make(new TransportError.HandlerFailed({ detail: "once", retryable: true })))
      }
      if (n === 8 || n === 12) return Effect.fail(new Rejected({ n }))
      if (n === 9) {
        return Effect.fail(TransportError.make(new TransportError.HandlerFailed({ detail: "always", retryable: true })))
      }
      if (n === 10 && d.deliveryCount === 1) return Effect.sleep("1 hour")
      return Effect.void
    }, { nakDelay: () => "10 millis", handlerDeadline: "300 millis" })
    yield* Wait.until(
      handle.stats,
      (s) => s.acked === 8 && s.deadLettered === 3 && s.timedOut === 1 && s.inFlight === 0,
      "the workload settled",
      { bound: "60 seconds", advance: options.advance }
    )
    return handle
  })

/** Checks the scraped counters of {@link workload}. */
export const checkWorkload = (samples: ReadonlyArray<Sample>, text: string, stream: string) => {
  const sys = { messaging_system: "nats" }
  // sent: per destination, never a raw subject
  assert.deepStrictEqual(
    select(samples, "messaging_client_sent_messages").map((s) => [
      s.labels.messaging_operation_name,
      s.labels.messaging_destination_name,
      s.labels.error_type,
      s.value
    ]).sort(),
    [
      ["append", stream, undefined, 11],
      ["publish", "(other)", undefined, 2],
      ["publish", "orders.*.placed", undefined, 5],
      ["request", "rpc.*", undefined, 3]
    ].sort()
  )
  assert.strictEqual(total(samples, "messaging_client_sent_messages", { ...sys, messaging_operation_type: "send" }), 21)

  // consumed: subscribe (receive), serve and consume (process)
  const consumed = (where: Record<string, string | undefined>) => total(samples, "messaging_client_consumed_messages", where)
  assert.strictEqual(consumed({ messaging_operation_type: "receive", messaging_destination_name: "orders.*.placed" }), 5)
  assert.strictEqual(consumed({ messaging_operation_name: "serve", messaging_destination_name: "rpc.*" }), 3)
  const consume = { messaging_operation_name: "consume", messaging_destination_name: stream, messaging_consumer_group_name: "billing" }
  assert.strictEqual(consumed(consume), 14)
  assert.strictEqual(consumed({ ...consume, error_type: undefined }), 8)
  assert.strictEqual(consumed({ ...consume, error_type: "HandlerFailed" }), 4)
  assert.strictEqual(consumed({ ...consume, error_type: "Rejected" }), 1)
  assert.strictEqual(consumed({ ...consume, error_type: "interrupted" }), 1)

  // dead letters by kind, redeliveries, deadline hits
  const dl = (reason: string) => total(samples, "herald_dead_letters", { ...consume, herald_dead_letter_reason: reason })
  assert.deepStrictEqual([dl("non_retryable"), dl("max_deliver"), dl("other")], [1, 1, 1])
  assert.strictEqual(total(samples, "herald_dead_letters"), 3)
  assert.strictEqual(total(samples, "herald_redeliveries", consume), 4)
  assert.strictEqual(total(samples, "herald_handler_deadline_exceeded", consume), 1)

  // histograms: counts per destination, delivery count buckets
  const opCount = (where: Record<string, string | undefined>) =>
    total(samples, "messaging_client_operation_duration_count", where)
  assert.strictEqual(opCount({ messaging_operation_name: "publish", messaging_destination_name: "orders.*.placed" }), 5)
  assert.strictEqual(opCount({ messaging_operation_name: "publish", messaging_destination_name: "(other)" }), 2)
  assert.strictEqual(opCount({ messaging_operation_name: "request", messaging_destination_name: "rpc.*" }), 3)
  assert.strictEqual(opCount({ messaging_operation_name: "append", messaging_destination_name: stream }), 11)
  assert.strictEqual(total(samples, "messaging_process_duration_count", consume), 14)
  assert.strictEqual(total(samples, "messaging_process_duration_count", { ...consume, error_type: undefined }), 8)
  assert.strictEqual(total(samples, "messaging_process_duration_count", { messaging_operation_name: "serve" }), 3)
  const bucket = (le: string) => total(samples, "herald_delivery_count_bucket", { ...consume, le })
  assert.deepStrictEqual([bucket("1"), bucket("2"), bucket("3"), bucket("+Inf")], [10, 13, 14, 14])

  // lag of the consumer, read at the scrape
  const lag = { messaging_destination_name: stream, messaging_consumer_group_name: "billing" }
  assert.strictEqual(select(samples, "herald_consumer_lag_pending", lag).length, 1)
  assert.strictEqual(total(samples, "herald_consumer_lag_pending", lag), 0)
  assert.strictEqual(total(samples, "herald_consumer_lag_ack_pending", lag), 0)

  // every destination label is bounded; no per-entity subject anywhere in the text
  const allowed = new Set([stream, "orders.*.placed", "rpc.*", "(other)"])
  for (const s of samples) {
    const d = s.labels.messaging_destination_name
    if (d !== undefined) assert.isTrue(allowed.has(d), `unexpected destination ${d}`)
    assert.strictEqual(s.labels.messaging_system, "nats", `${s.name} without messaging.system`)
  }
  for (const raw of ["orders.1.placed", "misc.1", "rpc.1", "ledger.1.entry"]) {
    assert.isFalse(text.includes(raw), `raw subject ${raw} in the scrape`)
  }
}
