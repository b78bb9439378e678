import { Fixtures, NatsServer } from "@herald/testing"
import { Bus, type Envelope, TransportError } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { NatsBus, NatsConnection } from "../src/index.ts"

const password = "perm-pw"
const allowAll = { allow: ["allowed.>", "revoked.>", "_INBOX.>"] }
const users = (subscribe: { readonly allow: ReadonlyArray<string> }): NatsServer.Auth => ({
  _tag: "Users",
  users: [{ user: "app", password, permissions: { publish: { allow: ["allowed.>", "_INBOX.>"] }, subscribe } }]
})

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) =>
    NatsConnection.layer({ servers: server.url, auth: { _tag: "UserPassword", user: "app", password: Redacted.make(password) } })
  )
).pipe(Layer.provideMerge(NatsServer.layer({ jetstream: false, auth: users(allowAll) })))


const envelope = (n: number): Envelope.Envelope => Fixtures.envelope({ identity: Fixtures.root(n), payload: { n } })

const reasonOf = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.flatMap(Effect.flip(effect), (e) => Effect.succeed(e.reason))

const logs: Array<string> = []
const collector = Logger.make((options) => {
  if (options.logLevel === "Warn" || options.logLevel === "Error") logs.push(String(options.message))
})

// The connection's own fibers log through the collector.
const Live = NatsBus.layer.pipe(
  Layer.provideMerge(Nats),
  Layer.provide(Logger.layer([collector], { mergeWithExisting: true }))
)

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("NatsBus with permissions", (it) => {
  it.effect("a denied subscribe fails with PermissionDenied; an allowed one works", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const denied = yield* reasonOf(Effect.scoped(bus.subscribe("denied.orders")))
      assert.deepStrictEqual(
        denied._tag === "PermissionDenied" ? { operation: denied.operation, subject: denied.subject } : denied._tag,
        { operation: "subscribe", subject: "denied.orders" }
      )
      assert.strictEqual(denied.message, "permission denied: subscribe to denied.orders")
      assert.isFalse(denied.isRetryable)
      const serveDenied = yield* reasonOf(Effect.scoped(bus.serve("denied.svc", () => Effect.succeed(envelope(0)))))
      assert.strictEqual(serveDenied._tag, "PermissionDenied")
      const stream = yield* bus.subscribe("allowed.orders")
      const reader = yield* Effect.forkChild(Stream.runCollect(Stream.take(stream, 3)))
      for (let n = 1; n <= 3; n++) yield* bus.publish("allowed.orders", envelope(n))
      const got = yield* Fiber.join(reader)
      assert.deepStrictEqual(got.map((m) => (Fixtures.json(m.envelope) as { n: number }).n), [1, 2, 3])
    }))

  it.effect("a denied publish fails with PermissionDenied, every time, and is reported on the connection and in the log", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const connection = yield* NatsConnection.NatsConnection
      const events = yield* connection.events.pipe(
        Stream.filter((e) => e._tag === "ServerError"),
        Stream.take(1),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.yieldNow
      const first = yield* reasonOf(bus.publish("denied.audit", envelope(1)))
      assert.deepStrictEqual(
        first._tag === "PermissionDenied" ? { operation: first.operation, subject: first.subject } : first._tag,
        { operation: "publish", subject: "denied.audit" }
      )
      const again = yield* reasonOf(bus.publish("denied.audit", envelope(2)))
      assert.strictEqual(again._tag, "PermissionDenied")
      const raw = yield* reasonOf(bus.publishRaw("denied.audit", { headers: {}, body: new Uint8Array([1]) }))
      assert.strictEqual(raw._tag, "PermissionDenied")
      const [event] = yield* Fiber.join(events)
      assert.deepStrictEqual(
        event?._tag === "ServerError" ? [event.error.reason._tag, event.error.message] : event,
        ["PermissionDenied", "permission denied: publish to denied.audit"]
      )
      // The connection lives on; allowed subjects still work.
      assert.strictEqual(yield* connection.state, "connected")
      yield* bus.publish("allowed.audit", envelope(3))
      assert.isTrue(logs.some((line) => line.includes("permission denied: publish to denied.audit")), logs.join("\n"))
      const request = yield* reasonOf(bus.request("denied.query", envelope(4), { timeout: "20 seconds" }))
      assert.deepStrictEqual(
        request._tag === "PermissionDenied" ? { operation: request.operation, subject: request.subject } : request._tag,
        { operation: "publish", subject: "denied.query" }
      )
    }))

  it.effect("a subscription the server stops permitting (configuration reload) fails its stream with PermissionDenied", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const server = yield* NatsServer.NatsServer
      const stream = yield* bus.subscribe("revoked.feed")
      const reader = yield* Effect.forkChild(Effect.exit(Stream.runCollect(stream)))
      yield* bus.publish("allowed.ping", envelope(0))
      const config = fs.readFileSync(server.config.file, "utf8")
      fs.writeFileSync(server.config.file, config.replace("\"revoked.>\", ", ""))
      const pid = yield* server.pid
      process.kill(pid!, "SIGHUP")
      const exit = yield* Fiber.join(reader).pipe(
        Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die("the stream did not fail") })
      )
      assert.deepStrictEqual(reasonOfExit(exit), { _tag: "PermissionDenied", operation: "subscribe", subject: "revoked.feed" })
    }))
})

const reasonOfExit = (exit: Exit.Exit<unknown, TransportError.TransportError>) => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (failure === undefined || failure._tag !== "Fail") return undefined
  const reason = failure.error.reason
  return reason._tag === "PermissionDenied"
    ? { _tag: reason._tag, operation: reason.operation, subject: reason.subject }
    : { _tag: reason._tag }
}
