/**
 * Conformance tests of a consumer handle's `state` and `changes`: running,
 * stalled by a handler past its deadline, failed, idle.
 *
 * @internal
 */
import { type ConsumerState, EventLog, Topology, TransportError } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { SuiteContext } from "./context.ts"
import { ensure } from "./helpers.ts"
import { failsWith, type Kit } from "./kit.ts"

const setup = (kit: Kit, consumer?: Partial<Topology.ConsumerConfig>) =>
  Effect.gen(function*() {
    const dlq = kit.deadLetters()
    const s = kit.name("orders")
    const c = kit.name("c")
    yield* ensure(
      [{ name: s, subjects: [kit.subject("orders", ">")] }, dlq.stream],
      [{ stream: s, name: c, ackWait: "30 seconds", deadLetterSubject: dlq.subject, ...consumer }]
    )
    const log = yield* EventLog.EventLog
    const append = (n: number) => log.append(kit.subject("orders", "x"), kit.envelope(n))
    return { s, c, log, append }
  })

/** Collects a handle's `changes` in the test's scope. */
const record = (handle: EventLog.ConsumerHandle) =>
  Effect.gen(function*() {
    const seen: Array<ConsumerState.ConsumerState> = []
    yield* Effect.forkScoped(Stream.runForEach(handle.changes, (s) => Effect.sync(() => void seen.push(s))))
    yield* Effect.yieldNow
    return seen
  })

const tags = (states: ReadonlyArray<ConsumerState.ConsumerState>) => states.map((s) => s._tag)

/** @internal */
export const register = ({ test }: SuiteContext): void => {
  test("a started runner is Running; it shows the last delivery's time and the handlers in flight", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const gate = yield* Deferred.make<void>()
      const before = yield* kit.now
      const handle = yield* log.consume(s, c, () => Deferred.await(gate))
      assert.deepStrictEqual(yield* handle.state, {
        _tag: "Running",
        lastMessageAt: undefined,
        inFlight: 0,
        idleSince: undefined
      })
      yield* append(1)
      const busy = yield* kit.eventually(handle.state, (st) => st._tag === "Running" && st.inFlight === 1, {
        what: "the handler in flight"
      })
      assert.strictEqual(busy._tag, "Running")
      if (busy._tag !== "Running") return
      assert.isDefined(busy.lastMessageAt)
      assert.isAtLeast(busy.lastMessageAt!, before)
      assert.isAtMost(busy.lastMessageAt!, yield* kit.now)
      assert.strictEqual(busy.idleSince, undefined)
      yield* Deferred.succeed(gate, undefined)
      yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the ack" })
      assert.deepStrictEqual(yield* handle.state, {
        _tag: "Running",
        lastMessageAt: busy.lastMessageAt,
        inFlight: 0,
        idleSince: undefined
      })
    }))

  test("a handler that does not stop at its deadline makes the runner Stalled until it stops; the runner goes on meanwhile", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const gate = yield* Deferred.make<void>()
      let stopped = 0
      const handle = yield* log.consume(s, c, (d) =>
        d.deliveryCount > 1
          ? Effect.void
          // Ignores the interruption at the deadline until the gate opens.
          : Effect.uninterruptible(Effect.andThen(Deferred.await(gate), Effect.sync(() => void stopped++))), {
        handlerDeadline: "500 millis",
        nakDelay: () => "300 millis"
      })
      const changes = yield* record(handle)
      yield* append(1)
      const stalled = yield* kit.eventually(handle.state, (st) => st._tag === "Stalled", {
        what: "the runner stalled",
        within: "10 seconds"
      })
      assert.strictEqual(stalled._tag, "Stalled")
      if (stalled._tag !== "Stalled") return
      assert.strictEqual(stalled.reason, "HandlerPastDeadline")
      assert.strictEqual(stalled.overdue, 1)
      assert.strictEqual(
        stalled.detail,
        "handler of stream sequence 1 past its deadline of 500 ms has not stopped"
      )
      assert.isAtMost(stalled.since, yield* kit.now)
      // The delivery was nak'd at the deadline; its redelivery is handled while the first handler still runs.
      yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the redelivery acked", within: "10 seconds" })
      const still = yield* handle.state
      assert.strictEqual(still._tag, "Stalled")
      assert.deepStrictEqual({ ...(yield* handle.stats) }, {
        acked: 1,
        naked: 1,
        termed: 0,
        deadLettered: 0,
        inFlight: 0,
        timedOut: 1
      })
      assert.strictEqual(stopped, 0)
      yield* Deferred.succeed(gate, undefined)
      const running = yield* kit.eventually(handle.state, (st) => st._tag === "Running", { what: "running again" })
      assert.strictEqual(running._tag, "Running")
      if (running._tag !== "Running") return
      assert.strictEqual(running.inFlight, 0)
      assert.strictEqual(running.idleSince, undefined)
      assert.isDefined(running.lastMessageAt)
      assert.strictEqual(stopped, 1)
      assert.deepStrictEqual(tags(changes), ["Running", "Stalled", "Running"])
    }))

  test("a handler interrupted at its deadline that stops does not stall the runner", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const handle = yield* log.consume(s, c, (d) => d.deliveryCount > 1 ? Effect.void : Effect.never, {
        handlerDeadline: "500 millis",
        nakDelay: () => "300 millis"
      })
      const changes = yield* record(handle)
      yield* append(1)
      yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the redelivery acked", within: "10 seconds" })
      assert.strictEqual((yield* handle.stats).timedOut, 1)
      assert.strictEqual((yield* handle.state)._tag, "Running")
      assert.deepStrictEqual(tags(changes), ["Running"])
    }))

  test("a runner whose stream is deleted ends Failed with the error its await fails with", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const handled: Array<number> = []
      const handle = yield* log.consume(s, c, (d) => Effect.sync(() => void handled.push(d.streamSequence)))
      const changes = yield* record(handle)
      yield* append(1)
      yield* kit.eventually(Effect.sync(() => handled.length), (k) => k === 1, { what: "message 1 handled" })
      const topology = yield* Topology.Topology
      yield* topology.deleteStream(s)
      const ended = yield* Effect.forkChild(Stream.runCollect(handle.changes))
      const error = yield* kit.drive(Effect.flip(handle.await), { what: "the runner stopping", limit: "30 seconds" })
      assert.isTrue(TransportError.isTransportError(error))
      const state = yield* handle.state
      assert.strictEqual(state._tag, "Failed")
      if (state._tag !== "Failed") return
      assert.strictEqual(state.error, error)
      assert.isAtMost(state.since, yield* kit.now)
      const last = changes[changes.length - 1]
      assert.strictEqual(last?._tag, "Failed")
      assert.strictEqual(changes[0]?._tag, "Running")
      // Whatever the runner did in between, it was recovering (a transport that can wait for a missing stream) or nothing.
      assert.deepStrictEqual(
        changes.slice(1, -1).filter((st) => st._tag !== "Recovering").map((st) => st._tag),
        []
      )
      // `changes` ends after Failed; a late subscriber gets the final state.
      const collected = yield* kit.drive(Fiber.join(ended), { what: "changes ending" })
      assert.strictEqual(collected[collected.length - 1], state)
      assert.deepStrictEqual(yield* Stream.runCollect(handle.changes), [state])
    }))

  test("changes: the state now, then each transition; it ends when the consume scope closes", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const scope = yield* Scope.make()
      const handle = yield* Scope.provide(scope)(log.consume(s, c, () => Effect.void, { idleWarning: "1 second" }))
      const collecting = yield* Effect.forkChild(Stream.runCollect(handle.changes))
      yield* Effect.yieldNow
      yield* kit.eventually(handle.state, (st) => st._tag === "Running" && st.idleSince !== undefined, {
        what: "idle",
        within: "5 seconds"
      })
      yield* append(1)
      yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the ack" })
      yield* kit.drive(Scope.close(scope, Exit.void), { what: "closing the consumer" })
      const collected = yield* kit.drive(Fiber.join(collecting), { what: "changes ending" })
      assert.deepStrictEqual(
        collected.map((st) => st._tag === "Running" ? (st.idleSince === undefined ? "busy" : "idle") : st._tag),
        ["busy", "idle", "busy"]
      )
      // After the close: the last state, then the end.
      const late = yield* Stream.runCollect(handle.changes)
      assert.strictEqual(late.length, 1)
      assert.strictEqual(late[0]?._tag, "Running")
    }))

  test("idleWarning: no delivery for that long shows as idleSince on Running, until the next delivery", (kit) =>
    Effect.gen(function*() {
      const { s, c, log, append } = yield* setup(kit)
      const before = yield* kit.now
      const handle = yield* log.consume(s, c, () => Effect.void, { idleWarning: "1 second" })
      const changes = yield* record(handle)
      assert.deepStrictEqual(yield* handle.state, {
        _tag: "Running",
        lastMessageAt: undefined,
        inFlight: 0,
        idleSince: undefined
      })
      const idle = yield* kit.eventually(
        handle.state,
        (st) => st._tag === "Running" && st.idleSince !== undefined,
        { what: "idle", within: "5 seconds" }
      )
      assert.strictEqual(idle._tag, "Running")
      if (idle._tag !== "Running") return
      // Idle since the runner started.
      assert.isAtLeast(idle.idleSince!, before)
      assert.strictEqual(idle.lastMessageAt, undefined)
      yield* append(1)
      const busy = yield* kit.eventually(handle.stats, (st) => st.acked === 1, { what: "the ack" })
      assert.strictEqual(busy.acked, 1)
      const after = yield* handle.state
      assert.strictEqual(after._tag, "Running")
      if (after._tag !== "Running") return
      assert.isDefined(after.lastMessageAt)
      assert.strictEqual(after.idleSince, undefined)
      const again = yield* kit.eventually(
        handle.state,
        (st) => st._tag === "Running" && st.idleSince !== undefined,
        { what: "idle again", within: "5 seconds" }
      )
      assert.strictEqual(again._tag, "Running")
      if (again._tag !== "Running") return
      // Idle since the last delivery.
      assert.strictEqual(again.idleSince, again.lastMessageAt)
      assert.deepStrictEqual(
        changes.map((st) => st._tag === "Running" ? (st.idleSince === undefined ? "busy" : "idle") : st._tag),
        ["busy", "idle", "busy", "idle"]
      )
    }))

  test("an idleWarning that is not a positive duration is InvalidConfig", (kit) =>
    Effect.gen(function*() {
      const { s, c, log } = yield* setup(kit)
      for (const idleWarning of ["-1 seconds", "0 millis", "soon"] as const) {
        yield* failsWith(Effect.scoped(log.consume(s, c, () => Effect.void, { idleWarning: idleWarning as "0 millis" })), "InvalidConfig")
      }
    }))
}
