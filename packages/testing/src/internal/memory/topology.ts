/**
 * The `Topology` of the in-memory transport: streams and durable consumers
 * created, updated and deleted on the server, with JetStream's refusals.
 *
 * @since 0.1.0
 * @internal
 */
import { type Topology, TopologyConfig } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { Server } from "./server.ts"

/**
 * Builds the Topology service over a server.
 *
 * @since 0.1.0
 * @internal
 */
export const make = (server: Server): Topology.Topology["Service"] => ({
  ensureStream: (config) => Effect.suspend(() => Effect.fromResult(server.ensureStream(config))),
  ensureConsumer: (config) => Effect.suspend(() => Effect.fromResult(server.ensureConsumer(config))),
  deleteStream: (name) => Effect.suspend(() => Effect.fromResult(server.deleteStream(name))),
  deleteConsumer: (stream, name) => Effect.suspend(() => Effect.fromResult(server.deleteConsumer(stream, name))),
  listStreams: Effect.sync(() =>
    Array.from(server.streams.values(), (s) => TopologyConfig.toStreamConfig(s.name, s.norm, s.config.subjects))
  ),
  purge: (stream, options) => Effect.suspend(() => Effect.fromResult(server.purge(stream, options))),
  consumerConfig: (stream, name) =>
    Effect.suspend(() => {
      const found = server.getConsumer(stream, name)
      return Result.isFailure(found)
        ? Effect.fail(found.failure)
        : Effect.succeed(TopologyConfig.toConsumerConfig(stream, name, found.success.norm))
    })
})
