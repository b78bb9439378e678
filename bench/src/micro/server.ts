/**
 * A nats-server and both clients for the micro-benchmarks that need one: the
 * same setup as `pnpm bench` (`NatsServer.layer()`, Herald's layers on one
 * connection, a raw nats.js connection).
 */
import { NatsServer } from "@herald/testing"
import { Bus, EventLog } from "@herald/transport"
import { NatsBus, NatsConnection, NatsEventLog } from "@herald/transport-nats"
import { connect, type NatsConnection as Client } from "@nats-io/transport-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"

export interface Clients {
  readonly url: string
  readonly bus: Bus.Bus["Service"]
  readonly eventLog: EventLog.EventLog["Service"]
  readonly connection: NatsConnection.NatsConnection["Service"]
  readonly nc: Client
}

export const withClients = <A, E>(f: (clients: Clients) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const connectionLayer = NatsConnection.layer({ servers: server.url, name: "micro-herald" })
      const herald = yield* Layer.build(
        Layer.mergeAll(NatsBus.layer, NatsEventLog.layer).pipe(Layer.provideMerge(connectionLayer))
      )
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: server.url, name: "micro-raw" })),
        (nc) => Effect.promise(() => nc.close())
      )
      return yield* f({
        url: server.url,
        bus: Context.get(herald, Bus.Bus),
        eventLog: Context.get(herald, EventLog.EventLog),
        connection: Context.get(herald, NatsConnection.NatsConnection),
        nc
      })
    }).pipe(
      Effect.scoped,
      Effect.provide(NatsServer.layer()),
      Effect.provideService(References.MinimumLogLevel, "Warn")
    )
  )
