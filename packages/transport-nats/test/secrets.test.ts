import { NatsServer } from "@herald/testing"
import { TransportError } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import { nkeys } from "@nats-io/nats-core/internal"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { afterEach, beforeEach, vi } from "vitest"
import { NatsConnection } from "../src/index.ts"

const user = "herald"
const rightPassword = "right-Pa55-0f-the-server"

const seed = new TextDecoder().decode(nkeys.createUser().getSeed())
const credsSeed = new TextDecoder().decode(nkeys.createUser().getSeed())
const secrets = {
  urlPassword: "url-SECRET-7f3a91",
  urlToken: "url-TOKEN-5c2e07",
  authPassword: "auth-SECRET-b81d44",
  authToken: "auth-TOKEN-39aa10",
  envPassword: "env-SECRET-e6c0d2",
  envToken: "env-TOKEN-14f9b8",
  seed,
  credsSeed
}

/** Every rendering of a failure a user might print or ship to a log store. */
const renderings = (e: TransportError.TransportError): Array<string> => [
  e.message,
  String(e),
  e.toString(),
  e.stack ?? "",
  JSON.stringify(e),
  JSON.stringify(e.reason),
  String(e.reason),
  util.inspect(e, { depth: 20 }),
  util.inspect(e.reason, { depth: 20 }),
  Cause.pretty(Cause.fail(e)),
  Cause.pretty(Cause.die(e)),
  e.reason.cause === undefined ? "" : util.inspect(e.reason.cause, { depth: 20 })
]

const lines: Array<string> = []
const collector = Logger.make((options) => {
  lines.push(Logger.formatSimple.log(options), Logger.formatJson.log(options))
})

// nats.js writes some diagnostics to the console directly.
beforeEach(() => {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
      lines.push(util.format(...args))
    })
  }
})
afterEach(() => {
  vi.restoreAllMocks()
})

const withCapture = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provideService(References.CurrentLoggers, new Set([collector])),
    Effect.provideService(References.MinimumLogLevel, "All")
  )

/** Builds a connection in a scope of its own; the failure it ends with. */
const failure = (built: Layer.Layer<NatsConnection.NatsConnection, TransportError.TransportError>) =>
  Effect.flatMap(Effect.exit(Layer.build(built)), (exit) =>
    Exit.isSuccess(exit)
      ? Effect.die("connected with wrong credentials")
      : Effect.gen(function*() {
        // What a program that logs its failure would log.
        yield* Effect.logError("connect failed", exit.cause)
        const error = Cause.squash(exit.cause)
        if (!TransportError.isTransportError(error)) return yield* Effect.die(error)
        return error
      }))

const fromEnv = (env: Record<string, string>) =>
  NatsConnection.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

layer(NatsServer.layer({ jetstream: false, auth: { _tag: "UserPassword", user, password: rightPassword } }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("NatsConnection keeps secrets out of errors and logs", (it) => {
  it.effect("credentials in the URL are used, and no secret from a URL, auth or the environment is ever shown", () =>
    withCapture(Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const hostPort = `127.0.0.1:${server.port}`
      lines.length = 0

      // Credentials in the URL reach the server.
      const ok = Context.get(
        yield* Layer.build(NatsConnection.layer({ servers: `nats://${user}:${encodeURIComponent(rightPassword)}@${hostPort}` })),
        NatsConnection.NatsConnection
      )
      assert.strictEqual(yield* ok.state, "connected")
      assert.strictEqual(ok.client.getServer(), hostPort)

      const credsDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-creds-"))
      const credsFile = path.join(credsDir, "user.creds")
      fs.writeFileSync(
        credsFile,
        [
          "-----BEGIN NATS USER JWT-----",
          "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln",
          "------END NATS USER JWT------",
          "",
          "-----BEGIN USER NKEY SEED-----",
          credsSeed,
          "------END USER NKEY SEED------",
          ""
        ].join("\n")
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(credsDir, { recursive: true, force: true })))

      const attempts: Array<readonly [string, Layer.Layer<NatsConnection.NatsConnection, TransportError.TransportError>]> = [
        ["password in the URL", NatsConnection.layer({ servers: `nats://${user}:${secrets.urlPassword}@${hostPort}` })],
        ["token in the URL", NatsConnection.layer({ servers: [`nats://${secrets.urlToken}@${hostPort}`] })],
        [
          "password in auth",
          NatsConnection.layer({
            servers: server.url,
            auth: { _tag: "UserPassword", user, password: Redacted.make(secrets.authPassword) }
          })
        ],
        ["token in auth", NatsConnection.layer({ servers: server.url, auth: { _tag: "Token", token: Redacted.make(secrets.authToken) } })],
        ["nkey seed in auth", NatsConnection.layer({ servers: server.url, auth: { _tag: "NKey", seed: Redacted.make(seed) } })],
        ["credentials file", NatsConnection.layer({ servers: server.url, auth: { _tag: "Credentials", file: credsFile } })],
        ["NATS_PASSWORD", fromEnv({ NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: secrets.envPassword })],
        ["NATS_TOKEN", fromEnv({ NATS_URL: server.url, NATS_TOKEN: secrets.envToken })],
        ["NATS_NKEY_SEED", fromEnv({ NATS_URL: server.url, NATS_NKEY_SEED: seed })],
        ["NATS_CREDS", fromEnv({ NATS_URL: server.url, NATS_CREDS: credsFile })],
        ["password in NATS_URL", fromEnv({ NATS_URL: `nats://${user}:${secrets.urlPassword}@${hostPort}` })]
      ]
      const authFailures: Array<string> = []
      for (const [name, built] of attempts) {
        const e = yield* failure(built)
        authFailures.push(`${name}: ${e.reason._tag}`)
        for (const text of renderings(e)) {
          for (const [which, secret] of Object.entries(secrets)) {
            assert.notInclude(text, secret, `${name}: the ${which} appears in an error rendering`)
          }
        }
      }
      assert.deepStrictEqual(authFailures, attempts.map(([name]) => `${name}: AuthorizationError`))

      // Refused before connecting: still no secret in the message.
      const refused = [
        NatsConnection.layer({ servers: `nats://${user}:${secrets.urlPassword}@bad host:4222` }),
        NatsConnection.layer({
          servers: `nats://${user}:${secrets.urlPassword}@${hostPort}`,
          auth: { _tag: "Token", token: Redacted.make(secrets.authToken) }
        }),
        NatsConnection.layer({
          servers: [`nats://${user}:${secrets.urlPassword}@${hostPort}`, `nats://${user}:${secrets.authPassword}@${hostPort}`]
        }),
        NatsConnection.layer({ servers: server.url, auth: { _tag: "NKey", seed: Redacted.make(`X${secrets.authToken}`) } })
      ]
      for (const built of refused) {
        const e = yield* failure(built)
        assert.strictEqual(e.reason._tag, "InvalidConfig")
        for (const text of renderings(e)) {
          for (const [which, secret] of Object.entries(secrets)) {
            assert.notInclude(text, secret, `the ${which} appears in ${JSON.stringify(e.message)}`)
          }
        }
      }

      assert.isAbove(lines.length, 0)
      for (const line of lines) {
        for (const [which, secret] of Object.entries(secrets)) {
          assert.notInclude(line, secret, `the ${which} appears in a log line`)
        }
      }
    })))

  it.effect("a URL's credentials are redacted by redactUrl", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        [
          NatsConnection.redactUrl("nats://u:p%40ss@host:4222"),
          NatsConnection.redactUrl("tls://t0ken@host"),
          NatsConnection.redactUrl("nats://host:4222"),
          NatsConnection.redactUrl("host:4222")
        ],
        ["nats://***@host:4222", "tls://***@host", "nats://host:4222", "host:4222"]
      )
    }))
})
