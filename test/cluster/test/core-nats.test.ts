/**
 * Core NATS (the `Bus`: at-most-once) across the nodes of a three-node
 * nats-server 2.9 cluster (NatsCluster): three clients, each first connected
 * to a node of its own. Two of them serve requests in one queue group and
 * subscribe in another; the third sends the requests and publishes. Before,
 * during and after a restart of the node of one member:
 *
 * - before and after (steady): every request is answered by its own reply,
 *   by both members; every queue message reaches exactly one member, both
 *   members get some;
 * - during: a request sent again after a `Timeout` / `NoResponders` is
 *   answered (every one of them); no queue message is received twice, and
 *   what core NATS lost is reported (the exact accounting of a member's
 *   losses, from the server's own count, is in `processes.test.ts`).
 *
 * Every wait is bounded.
 */
import { Fixtures, NatsCluster, Wait } from "@herald/testing"
import { Bus, type Envelope } from "@herald/transport"
import { NatsConnection } from "@herald/transport-nats"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { range, recordMoves, report, transportOn, unique } from "./helpers.ts"

const { bounded, until } = Wait
const decoder = new TextDecoder()
const payloadOf = (e: Envelope.Envelope) => JSON.parse(decoder.decode(e.body)) as { readonly n: number; readonly by?: string }

describe("core NATS across the nodes of a cluster", () => {
  it.live(
    "request/reply and a queue group while a member's node restarts",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* NatsCluster.NatsCluster
        const t = unique("core")
        const client = (name: string, node: number) =>
          Effect.map(Layer.build(transportOn(cluster, name, [cluster.nodes[node]!.url])), (ctx) => ({
            bus: Context.get(ctx, Bus.Bus),
            connection: Context.get(ctx, NatsConnection.NatsConnection)
          }))
        const a = yield* client("core-a", 0)
        const b = yield* client("core-b", 1)
        const c = yield* client("core-c", 2)
        const cMoves = yield* recordMoves(cluster, c.connection)

        // Two responders in the queue group "svc": the reply carries the request's number and who answered.
        const answered = { a: 0, c: 0 }
        for (const [member, bus] of [["a", a.bus], ["c", c.bus]] as const) {
          yield* bus.serve(`${t.subject}.svc`, (request) =>
            Effect.sync(() => {
              answered[member]++
              const { n } = payloadOf(request.envelope)
              return Fixtures.envelope({ identity: 1_000_000 + n, payload: { n, by: member } })
            }), { queue: "svc", concurrency: 8 })
        }
        // Two members of the queue group "q": each number received, by whom.
        const received = new Map<number, number>()
        const byMember = { a: 0, c: 0 }
        const probes = { a: 0, c: 0 }
        for (const [member, bus] of [["a", a.bus], ["c", c.bus]] as const) {
          const stream = yield* bus.subscribe(`${t.subject}.q`, { queue: "q" })
          yield* Effect.forkScoped(Stream.runForEach(stream, (m) =>
            Effect.sync(() => {
              const { n } = payloadOf(m.envelope)
              received.set(n, (received.get(n) ?? 0) + 1)
              if (n > 0) byMember[member]++
              else probes[member]++
            })))
        }

        const request = (n: number) =>
          Effect.map(
            b.bus.request(`${t.subject}.svc`, Fixtures.envelope({ identity: n, payload: { n } }), { timeout: "1 second" }),
            payloadOf
          )
        const publish = (n: number) => b.bus.publish(`${t.subject}.q`, Fixtures.envelope({ identity: n, payload: { n } }))

        // Interest travels between nodes over the routes: before a steady
        // phase, probe until the requester's node reaches both responders and
        // both queue members (probes have negative numbers, not counted).
        let probe = 0
        const reachBoth = until(
          Effect.gen(function*() {
            const before = { answered: { ...answered }, probes: { ...probes } }
            for (let i = 0; i < 20; i++) {
              probe--
              yield* Effect.ignore(request(probe))
              yield* publish(probe)
            }
            yield* Effect.sleep("50 millis")
            return answered.a > before.answered.a && answered.c > before.answered.c &&
              probes.a > before.probes.a && probes.c > before.probes.c
          }),
          (ok) => ok,
          "both responders and both queue members reachable from the requester's node",
          { bound: "30 seconds", interval: "200 millis" }
        )

        /** Every request answered by its own reply, both responders used. */
        const steadyRequests = (from: number, count: number) =>
          Effect.gen(function*() {
            const before = { ...answered }
            const replies = yield* Effect.forEach(range(from, from + count - 1), request, { concurrency: 16 })
            assert.deepStrictEqual(replies.map((r) => r.n), range(from, from + count - 1), "each request got its own reply")
            return { a: answered.a - before.a, c: answered.c - before.c }
          })
        /** Every queue message received exactly once, by both members. */
        const steadyQueue = (from: number, count: number) =>
          Effect.gen(function*() {
            const before = { ...byMember }
            yield* Effect.forEach(range(from, from + count - 1), publish, { discard: true })
            const got = () => range(from, from + count - 1).filter((n) => received.has(n)).length
            yield* until(Effect.sync(got), (k) => k === count, `${count} queue messages from ${from} received`, { bound: "20 seconds" })
            assert.deepStrictEqual(range(from, from + count - 1).filter((n) => received.get(n) !== 1), [], "each received once")
            return { a: byMember.a - before.a, c: byMember.c - before.c }
          })

        yield* reachBoth

        // 1. Steady.
        const requests1 = yield* steadyRequests(1, 500)
        const queue1 = yield* steadyQueue(1, 1_000)

        // 2. Node 2 (the node of member c) restarts, gracefully, while requests and publishes go on.
        const restart = yield* Effect.forkChild(cluster.restart(2))
        let retried = 0
        const retriedRequest = (n: number) =>
          request(n).pipe(
            Effect.tapError(() => Effect.sync(() => void retried++)),
            Effect.retry({
              while: (e) => e.reason._tag === "Timeout" || e.reason._tag === "NoResponders",
              schedule: Schedule.spaced("100 millis"),
              times: 200
            })
          )
        let sent = 0
        const during = 1_000_000
        const traffic = Effect.gen(function*() {
          const replies: Array<number> = []
          while (restart.pollUnsafe() === undefined) {
            const n = during + sent
            yield* publish(n)
            sent++
            if (sent % 4 === 0) replies.push((yield* retriedRequest(n)).n - n)
            yield* Effect.sleep("2 millis")
          }
          return replies
        })
        const offsets = yield* bounded(traffic, "60 seconds", "traffic during the restart")
        yield* bounded(Fiber.join(restart), "60 seconds", "the restart of n2")
        yield* until(Effect.sync(() => cMoves.some((m) => m.event === "reconnected")), (ok) => ok, "client c reconnected", { bound: "20 seconds" })
        // What was delivered has arrived (core NATS delivers within milliseconds on loopback, or never).
        yield* Effect.sleep("1 second")
        const duringReceived = range(during, during + sent - 1).filter((n) => received.has(n))
        const duringTwice = duringReceived.filter((n) => received.get(n) !== 1)
        const lost = sent - duringReceived.length

        // 3. Steady again, once c's interest is back on the requester's node.
        yield* reachBoth
        const requests3 = yield* steadyRequests(10_001, 500)
        const queue3 = yield* steadyQueue(10_001, 1_000)

        yield* report(
          "core-nats",
          `steady before: requests answered by a ${requests1.a} / c ${requests1.c}, queue a ${queue1.a} / c ${queue1.c}; ` +
            `during the restart of n2: ${sent} published, ${duringReceived.length} received, ${lost} lost, ` +
            `${offsets.length} requests answered after ${retried} retries; c moved ${JSON.stringify(cMoves)}; ` +
            `steady after: requests a ${requests3.a} / c ${requests3.c}, queue a ${queue3.a} / c ${queue3.c}`
        )

        for (const [what, split] of [["requests before", requests1], ["queue before", queue1], ["requests after", requests3], ["queue after", queue3]] as const) {
          assert.isAbove(split.a, 0, `${what}: member a used`)
          assert.isAbove(split.c, 0, `${what}: member c used`)
        }
        assert.deepStrictEqual(offsets.filter((o) => o !== 0), [], "each request during the restart got its own reply")
        assert.isAbove(offsets.length, 0, "requests were made during the restart")
        assert.deepStrictEqual(duringTwice, [], "no queue message received twice")
        assert.deepStrictEqual(cMoves[0], { event: "disconnected", node: 2 })
        assert.notStrictEqual(cMoves.find((m) => m.event === "reconnected")?.node, undefined)
      })).pipe(Effect.provide(NatsCluster.layer())),
    120_000
  )
})
