/**
 * `append`'s default retry against a real nats-server 2.9: 5,000 appends
 * with no retry of their own, across a 20-second SIGSTOP of the server and
 * then a SIGKILL and restart. Every append succeeds and every message is
 * stored exactly once. Exact counts only; every wait is bounded.
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology, Wire } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { NatsTransport } from "../src/index.ts"

const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })
const range = (from: number, to: number): ReadonlyArray<number> => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("append rides through an outage", () => {
  it.live(
    "5,000 appends across a 20 s SIGSTOP and a SIGKILL + restart: none fails, each is stored once",
    () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.make()
        yield* Effect.gen(function*() {
          const N = 5_000
          const stream = "OUTAGE"
          const subject = "outage.x"
          yield* Topology.ensure({ streams: [{ name: stream, subjects: ["outage.>"], storage: "file" }], consumers: [] })
          const log = yield* EventLog.EventLog

          let acked = 0
          const failed: Array<string> = []
          const appender = yield* Effect.forkChild(
            Effect.forEach(
              range(1, N),
              (n) =>
                log.append(subject, envelope(n)).pipe(
                  Effect.match({
                    onFailure: (e) => void failed.push(`${n}: ${e.message}`),
                    onSuccess: () => void acked++
                  })
                ),
              { concurrency: 64, discard: true }
            )
          )

          yield* Wait.until(Effect.sync(() => acked), (k) => k >= 1_000, "1,000 appends acknowledged")
          yield* server.pause
          // `retryFor: 0` opts out: the first timeout fails. (A subject no
          // stream captures, so that the publish is not stored when the server resumes.)
          const unretried = yield* Effect.flip(log.append("elsewhere.x", envelope(N + 1), { timeout: "500 millis", retryFor: 0 }))
          yield* Effect.sleep("20 seconds")
          yield* server.resume

          yield* Wait.until(Effect.sync(() => acked), (k) => k >= 3_000, "3,000 appends acknowledged")
          yield* server.kill
          yield* server.start

          yield* Wait.bounded(Fiber.join(appender), "60 seconds", () => `the appender (${acked} of ${N} acknowledged)`)
          const info = yield* log.info(stream)
          const ids = yield* Stream.runCollect(log.readRaw(stream)).pipe(
            Effect.map((ms) => ms.map((m) => Wire.header(m.raw, Wire.HeaderNames.natsMsgId)))
          )

          assert.strictEqual(unretried.reason._tag, "Timeout", unretried.message)
          assert.deepStrictEqual(failed, [])
          assert.strictEqual(acked, N)
          assert.strictEqual(info.messages, N, "stored messages")
          assert.strictEqual(info.lastSequence, N, "no sequence used by a second copy")
          assert.strictEqual(new Set(ids).size, N, "distinct message ids stored")
          assert.deepStrictEqual(
            [...new Set(ids)].sort(),
            range(1, N).map((n) => Fixtures.id(n)).sort()
          )
        }).pipe(
          Effect.provide(NatsTransport.layer({ servers: server.url, name: "append-outage", reconnectTimeWait: "250 millis" }))
        )
      }),
    { timeout: 90_000 }
  )
})
