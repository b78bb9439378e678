import { NatsServer, Wait } from "@herald/testing"
import { TransportError } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import { NatsConnection } from "../src/index.ts"

/** Builds a connection in a scope of its own, closed when the test ends. */
const connect = (options: NatsConnection.Options) =>
  Effect.map(Layer.build(NatsConnection.layer(options)), Context.get(NatsConnection.NatsConnection))

const reasonOf = <A, R>(effect: Effect.Effect<A, TransportError.TransportError, R>) =>
  Effect.flatMap(Effect.flip(effect), (e) => Effect.succeed(e.reason))

/** A port nothing listens on. */
const freePort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "60 seconds" })("NatsConnection", (it) => {
  it.effect("connects and reports the server", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const connection = yield* connect({ servers: server.url, name: "connection-test" })
      assert.strictEqual(yield* connection.state, "connected")
      assert.deepStrictEqual(
        {
          version: connection.server.version,
          jetstream: connection.server.jetstream,
          maxPayload: connection.server.maxPayload
        },
        {
          version: { text: server.version, ...versionParts(server.version) },
          jetstream: true,
          maxPayload: 1024 * 1024
        }
      )
      assert.strictEqual(connection.client.getServer(), `127.0.0.1:${server.port}`)
      assert.strictEqual(connection.jetstreamTimeoutMillis, 5_000)
      const info = yield* Effect.promise(() => connection.manager.getAccountInfo())
      assert.strictEqual(typeof info.streams, "number")
    }))

  it.effect("a port nobody listens on fails with ConnectionError, without waiting for the timeout", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const reason = yield* reasonOf(connect({ servers: `nats://127.0.0.1:${port}`, connectTimeout: "20 seconds" })).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("connect hung") })
      )
      assert.strictEqual(reason._tag, "ConnectionError")
      assert.include(reason.message, `127.0.0.1:${port}`)
    }))

  it.effect("a server that never answers fails with Timeout after the connect timeout", () =>
    Effect.gen(function*() {
      // A TCP listener that accepts and says nothing: the NATS handshake never starts.
      const sockets: Array<Net.Socket> = []
      const silent = yield* Effect.acquireRelease(
        Effect.callback<Net.Server>((resume) => {
          const server = Net.createServer((socket) => void sockets.push(socket))
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const reason = yield* reasonOf(connect({ servers: `nats://127.0.0.1:${port}`, connectTimeout: "500 millis" })).pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("connect hung") })
      )
      assert.deepStrictEqual(
        reason._tag === "Timeout" ? reason.millis : reason._tag,
        500
      )
    }))

  it.effect("20 connects that time out against a silent peer leave no socket open", () =>
    Effect.gen(function*() {
      const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length
      const baseline = tcpSockets()
      let accepted = 0
      let open = 0
      const sockets = new Set<Net.Socket>()
      const silent = yield* Effect.acquireRelease(
        Effect.callback<Net.Server>((resume) => {
          const server = Net.createServer((socket) => {
            accepted++
            open++
            sockets.add(socket)
            socket.on("close", () => {
              open--
              sockets.delete(socket)
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => resume(Effect.void))
          })
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const reasons: Array<string> = []
      for (let i = 0; i < 20; i++) {
        const reason = yield* reasonOf(connect({ servers: `nats://127.0.0.1:${port}`, connectTimeout: "200 millis" })).pipe(
          Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("connect hung") })
        )
        reasons.push(reason._tag)
      }
      assert.deepStrictEqual(reasons, Array.from({ length: 20 }, () => "Timeout"))
      assert.strictEqual(accepted, 20)
      // The peer sees every socket closed, and this process holds no socket
      // more than before: nothing keeps it from exiting.
      assert.strictEqual(yield* Wait.until(Effect.sync(() => open), (n) => n === 0, "the silent peer's sockets closed"), 0)
      assert.isAtMost(yield* Wait.until(Effect.sync(tcpSockets), (n) => n <= baseline, "no socket left open"), baseline)
    }))

  it.effect("status events: Disconnected then Reconnected when the server restarts", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const connection = yield* connect({ servers: server.url, reconnectTimeWait: "100 millis" })
      const seen: Array<NatsConnection.ConnectionEvent> = []
      const fiber = yield* connection.events.pipe(
        Stream.filter((e) => e._tag === "Disconnected" || e._tag === "Reconnected"),
        Stream.take(2),
        Stream.runForEach((e) => Effect.sync(() => void seen.push(e))),
        Effect.forkChild
      )
      yield* Effect.yieldNow
      yield* server.restart
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen, [
        { _tag: "Disconnected", server: `127.0.0.1:${server.port}` },
        { _tag: "Reconnected", server: `127.0.0.1:${server.port}` }
      ])
      assert.strictEqual(yield* Wait.until(connection.state, (s) => s === "connected", "reconnected"), "connected")
    }))

  it.effect("releasing the layer drains and closes the connection", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const scope = yield* Scope.make()
      const connection = yield* Scope.provide(scope)(connect({ servers: server.url }))
      const received: Array<string> = []
      connection.client.subscribe("drain.test", { callback: (_e, msg) => void received.push(msg.string()) })
      connection.client.publish("drain.test", "in flight")
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(connection.client.isClosed())
      assert.strictEqual(yield* connection.state, "closed")
      // Draining delivered what was in flight before closing.
      assert.deepStrictEqual(received, ["in flight"])
    }))

  it.effect("layerConfig reads NATS_URL and NATS_NAME from the ConfigProvider", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const context = yield* Layer.build(
        NatsConnection.layerConfig().pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ NATS_URL: server.url, NATS_NAME: "from-config" })))
        )
      )
      const connection = Context.get(context, NatsConnection.NatsConnection)
      assert.strictEqual(yield* connection.state, "connected")
      assert.strictEqual(connection.client.getServer(), `127.0.0.1:${server.port}`)
    }))

  it.effect("layerConfig refuses two auth methods, and a missing NATS_URL, with InvalidConfig", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const build = (env: Record<string, string>) =>
        reasonOf(Layer.build(NatsConnection.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))))
      const two = yield* build({ NATS_URL: server.url, NATS_TOKEN: "t", NATS_USER: "u", NATS_PASSWORD: "p" })
      assert.deepStrictEqual(
        two._tag === "InvalidConfig" ? two.detail : two._tag,
        "NATS configuration: set one of NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_NKEY_SEED, NATS_CREDS, not 2"
      )
      const missing = yield* build({})
      assert.strictEqual(missing._tag, "InvalidConfig")
      assert.include(missing.message, "NATS_URL")
    }))

  it.effect("an infinite, negative, zero or unreadable duration option fails with InvalidConfig naming it", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const cases: ReadonlyArray<readonly [keyof NatsConnection.Options, unknown, string]> = [
        ["connectTimeout", "Infinity", "connectTimeout: \"Infinity\" is not finite"],
        ["connectTimeout", 0, "connectTimeout: 0 is less than 1 ms"],
        ["jetstreamTimeout", -5, "jetstreamTimeout: -5 is negative"],
        ["drainTimeout", "soon", "drainTimeout: \"soon\" is not a duration"],
        ["pingInterval", "Infinity", "pingInterval: \"Infinity\" is not finite"],
        ["reconnectTimeWait", "-1 second", "reconnectTimeWait: \"-1 second\" is negative"]
      ]
      for (const [option, value, detail] of cases) {
        const reason = yield* reasonOf(connect({ servers: server.url, [option]: value } as NatsConnection.Options))
        assert.deepStrictEqual(reason._tag === "InvalidConfig" ? reason.detail : reason._tag, detail)
      }
      const connection = yield* connect({ servers: server.url, reconnectTimeWait: 0, connectTimeout: "2500500 micros" })
      assert.strictEqual(yield* connection.state, "connected")
    }))

  it.effect("requireVersion refuses a feature newer than the server with Unsupported naming both versions", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const connection = yield* connect({ servers: server.url })
      yield* connection.requireVersion("consumer filter subjects", "2.9.0")
      const reason = yield* reasonOf(connection.requireVersion("consumer metadata", "2.10.0"))
      assert.deepStrictEqual(
        reason._tag === "Unsupported" ? { feature: reason.feature, requires: reason.requires, server: reason.server } : reason._tag,
        { feature: "consumer metadata", requires: "nats-server 2.10.0 or newer", server: server.version }
      )
      assert.strictEqual(reason.message, `consumer metadata requires server nats-server 2.10.0 or newer, the server is ${server.version}`)
    }))
})

const versionParts = (text: string) => {
  const [major, minor, patch] = text.split(".").map((s) => Number.parseInt(s, 10))
  return { major: major!, minor: minor!, patch: patch! }
}

layer(NatsServer.layer({ auth: { _tag: "Token", token: Redacted.make("s3cret") } }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("NatsConnection with token auth", (it) => {
  it.effect("the right token connects, a wrong or missing one fails with AuthorizationError", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const ok = yield* connect({ servers: server.url, auth: { _tag: "Token", token: Redacted.make("s3cret") } })
      assert.strictEqual(yield* ok.state, "connected")
      const wrong = yield* reasonOf(connect({ servers: server.url, auth: { _tag: "Token", token: Redacted.make("nope") } }))
      assert.strictEqual(wrong._tag, "AuthorizationError")
      const none = yield* reasonOf(connect({ servers: server.url }))
      assert.strictEqual(none._tag, "AuthorizationError")
    }))
})

layer(NatsServer.layer({ tls: "generate", auth: { _tag: "UserPassword", user: "herald", password: "pa55" } }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("NatsConnection with TLS and user/password", (it) => {
  it.effect("connects over TLS trusting the generated certificate, with the right password only", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const caFile = server.tls!.caFile
      const auth: NatsConnection.Auth = { _tag: "UserPassword", user: "herald", password: Redacted.make("pa55") }
      const ok = yield* connect({ servers: server.url, tls: { caFile }, auth })
      assert.strictEqual(yield* ok.state, "connected")
      const reply = yield* Effect.promise(() => ok.client.rtt())
      assert.isTrue(reply >= 0)
      const wrong = yield* reasonOf(connect({
        servers: server.url,
        tls: { caFile },
        auth: { _tag: "UserPassword", user: "herald", password: Redacted.make("wrong") }
      }))
      assert.strictEqual(wrong._tag, "AuthorizationError")
      // Without the CA the certificate is not trusted.
      const untrusted = yield* reasonOf(connect({ servers: server.url, auth, connectTimeout: "3 seconds" }))
      assert.strictEqual(untrusted._tag, "ConnectionError")
      assert.include(untrusted.message, "self-signed certificate")
      const missingCa = yield* reasonOf(connect({ servers: server.url, tls: { caFile: `${caFile}.missing` }, auth }))
      assert.deepStrictEqual(
        missingCa._tag === "InvalidConfig" ? missingCa.detail : missingCa._tag,
        `TLS CA file ${caFile}.missing does not exist`
      )
    }))
})
