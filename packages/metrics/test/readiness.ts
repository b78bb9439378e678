/**
 * A consumer runner whose handler ignores the interruption at its deadline:
 * `/readyz` (with `MetricsHttp.consumers()`) turns unready naming it, the
 * handle shows `Stalled`, and both recover once the handler stops. Shared by
 * the memory and nats-server suites.
 */
import { assert } from "@effect/vitest"
import { Fixtures, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { get } from "./workload.ts"

const readyz = Effect.map(get("/readyz"), (r) => ({ status: r.status, body: JSON.parse(r.body) }))

export const stalledRunner = (options: {
  readonly stream: string
  readonly prefix: string
  readonly advance: (d: Duration.Duration) => Effect.Effect<void>
}) =>
  Effect.gen(function*() {
    const { advance, prefix, stream } = options
    const log = yield* EventLog.EventLog
    yield* Topology.ensure({
      streams: [{ name: stream, subjects: [`${prefix}jobs.>`] }],
      consumers: [{ stream, name: "worker" }, { stream, name: "audit" }]
    })
    const gate = yield* Deferred.make<void>()
    let stopped = 0
    const worker = yield* log.consume(stream, "worker", (d) =>
      d.deliveryCount > 1
        ? Effect.void
        // Ignores the interruption at its deadline until the gate opens.
        : Effect.uninterruptible(Effect.andThen(Deferred.await(gate), Effect.sync(() => void stopped++))), {
      handlerDeadline: "500 millis",
      nakDelay: () => "100 millis"
    })
    const audit = yield* log.consume(stream, "audit", () => Effect.void)

    const before = yield* readyz
    assert.deepStrictEqual(before, {
      status: 200,
      body: { status: "ready", checks: [{ name: "consumers", ok: true, detail: "2 running" }] }
    })

    yield* log.append(`${prefix}jobs.1`, Fixtures.envelope({ identity: 1 }))
    const unready = yield* Wait.until(readyz, (r) => r.status === 503, "/readyz unready", {
      bound: "20 seconds",
      advance
    })
    assert.strictEqual(unready.body.status, "unready")
    assert.strictEqual(unready.body.checks.length, 1)
    const check = unready.body.checks[0]
    assert.strictEqual(check.name, "consumers")
    assert.isFalse(check.ok)
    // Only the stalled consumer is named, with the runner's own words.
    assert.match(
      check.detail,
      new RegExp(
        `^${stream}/worker stalled for [0-9.]+ s: handler of stream sequence 1 past its deadline of 500 ms has not stopped$`
      )
    )
    const state = yield* worker.state
    assert.strictEqual(state._tag, "Stalled")
    if (state._tag === "Stalled") {
      assert.strictEqual(state.reason, "HandlerPastDeadline")
      assert.strictEqual(state.overdue, 1)
    }
    assert.strictEqual((yield* audit.state)._tag, "Running")
    // The runner goes on while stalled: the redelivery is handled and acked.
    yield* Wait.until(worker.stats, (s) => s.acked === 1 && s.timedOut === 1, "the redelivery acked", {
      bound: "20 seconds",
      advance
    })
    assert.strictEqual((yield* readyz).status, 503)
    assert.strictEqual(stopped, 0)

    yield* Deferred.succeed(gate, undefined)
    const ready = yield* Wait.until(readyz, (r) => r.status === 200, "/readyz ready again", { bound: "20 seconds", advance })
    assert.deepStrictEqual(ready.body, { status: "ready", checks: [{ name: "consumers", ok: true, detail: "2 running" }] })
    assert.strictEqual((yield* worker.state)._tag, "Running")
    assert.strictEqual(stopped, 1)
    assert.deepStrictEqual({ ...(yield* worker.stats) }, {
      acked: 1,
      naked: 1,
      termed: 0,
      deadLettered: 0,
      inFlight: 0,
      timedOut: 1
    })
  })
