/**
 * The `Topology` on JetStream: streams and durable pull consumers created,
 * updated and deleted through the JetStream manager.
 *
 * @since 0.1.0
 * @internal
 */
import { OverlapGuard } from "@herald/subject"
import { Topology, TopologyConfig, TransportError } from "@herald/transport"
import type { ConsumerInfo, Lister, StreamInfo } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as NatsConnection from "../../NatsConnection.ts"
import * as Errors from "../errors.ts"
import * as Config from "./config.ts"

const conflict = (detail: string) => TransportError.make(new TransportError.TopologyConflict({ detail }))

/**
 * Every item of a JetStream lister, page after page.
 *
 * @internal
 */
export const listAll = <A>(
  lister: () => Lister<A>,
  context: Errors.Context
): Effect.Effect<ReadonlyArray<A>, TransportError.TransportError> =>
  Effect.suspend(() => {
    const pages = lister()
    const out: Array<A> = []
    const loop: Effect.Effect<ReadonlyArray<A>, TransportError.TransportError> = Effect.flatMap(
      Effect.tryPromise({ try: () => pages.next(), catch: (e) => Errors.fromUnknown(e, context) }),
      (page) => {
        if (page.length === 0) return Effect.succeed(out)
        for (const item of page) out.push(item)
        return loop
      }
    )
    return loop
  })

/**
 * Builds the Topology service over a connection.
 *
 * @internal
 */
export const make = (connection: NatsConnection.NatsConnection["Service"]): Topology.Topology["Service"] => {
  const manager = connection.manager
  const timeoutMillis = connection.jetstreamTimeoutMillis

  const call = <A>(thunk: () => Promise<A>, context: Errors.Context) =>
    Effect.tryPromise({ try: thunk, catch: (e) => Errors.fromUnknown(e, { timeoutMillis, ...context }) })

  const streamInfos = listAll(() => manager.streams.list(), { operation: "list streams", timeoutMillis })

  const ensureStream = Effect.fn("NatsTopology.ensureStream")(function*(config: Topology.StreamConfig) {
    const valid = Topology.validateStream(config)
    if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    const declared = TopologyConfig.normalizeStream(config)
    const checked = TopologyConfig.checkStream(config.name, declared)
    if (Result.isFailure(checked)) return yield* Effect.fail(checked.failure)
    const infos = yield* streamInfos
    const existing = infos.find((s) => s.config.name === config.name)
    const others = infos.filter((s) => s.config.name !== config.name)
    const overlaps = OverlapGuard.find([
      { name: config.name, subjects: config.subjects },
      ...others.map((s) => ({ name: s.config.name, subjects: s.config.subjects ?? [] }))
    ]).filter((o) => o.a.stream === config.name || o.b.stream === config.name)
    if (overlaps.length > 0) {
      return yield* Effect.fail(conflict(
        overlaps.map((o) =>
          `stream ${o.a.stream} ${JSON.stringify(o.a.pattern)} overlaps stream ${o.b.stream} ${JSON.stringify(o.b.pattern)}`
        ).join("; ")
      ))
    }
    const natsConfig = Config.toNatsStream(config, declared)
    if (existing === undefined) {
      yield* call(() => manager.streams.add(natsConfig), { operation: `create stream ${config.name}`, stream: config.name })
      return { kind: "stream", name: config.name, action: "created" } satisfies Topology.Change
    }
    const current = Config.normalizeServer(existing.config)
    if (TopologyConfig.diff(current, declared).length === 0) {
      return { kind: "stream", name: config.name, action: "unchanged" } satisfies Topology.Change
    }
    const allowed = TopologyConfig.checkStreamChange(config.name, current, declared)
    if (Result.isFailure(allowed)) return yield* Effect.fail(allowed.failure)
    const { name: _, ...update } = natsConfig
    yield* call(() => manager.streams.update(config.name, update), {
      operation: `update stream ${config.name}`,
      stream: config.name
    })
    return { kind: "stream", name: config.name, action: "updated" } satisfies Topology.Change
  })

  const consumerInfo = (stream: string, name: string) =>
    call(() => manager.consumers.info(stream, name), {
      operation: `consumer info ${stream}/${name}`,
      stream,
      consumer: name
    })

  const ensureConsumer = Effect.fn("NatsTopology.ensureConsumer")(function*(config: Topology.ConsumerConfig) {
    const valid = Topology.validateConsumer(config)
    if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    const stream: StreamInfo = yield* call(() => manager.streams.info(config.stream), {
      operation: `stream info ${config.stream}`,
      stream: config.stream
    })
    const checked = Config.checkConsumer(config, stream.config)
    if (Result.isFailure(checked)) return yield* Effect.fail(checked.failure)
    const declared = TopologyConfig.normalizeConsumer(config)
    const natsConfig = Config.toNatsConsumer(config, declared)
    const existing: ConsumerInfo | undefined = yield* consumerInfo(config.stream, config.name).pipe(
      Effect.catchReason("TransportError", "ConsumerNotFound", () => Effect.succeed(undefined))
    )
    const context = { stream: config.stream, consumer: config.name }
    if (existing === undefined) {
      yield* call(() => manager.consumers.add(config.stream, natsConfig), {
        operation: `create consumer ${config.stream}/${config.name}`,
        ...context
      })
      return { kind: "consumer", name: config.name, action: "created" } satisfies Topology.Change
    }
    const current = Config.normalizeServerConsumer(existing.config)
    const allowed = Config.checkConsumerChange(config, existing.config, current, declared)
    if (Result.isFailure(allowed)) return yield* Effect.fail(allowed.failure)
    if (TopologyConfig.diff(current, declared).length === 0) {
      return { kind: "consumer", name: config.name, action: "unchanged" } satisfies Topology.Change
    }
    // `update` merges into the server's configuration: clear a backoff the declaration dropped.
    const { durable_name: _, ...update } = natsConfig
    yield* call(() => manager.consumers.update(config.stream, config.name, { backoff: [], ...update }), {
      operation: `update consumer ${config.stream}/${config.name}`,
      ...context
    })
    return { kind: "consumer", name: config.name, action: "updated" } satisfies Topology.Change
  })

  const deleteStream = Effect.fn("NatsTopology.deleteStream")(function*(name: string) {
    const valid = Topology.validateName("stream", name)
    if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    yield* call(() => manager.streams.delete(name), { operation: `delete stream ${name}`, stream: name })
  })

  const deleteConsumer = Effect.fn("NatsTopology.deleteConsumer")(function*(stream: string, name: string) {
    const validStream = Topology.validateName("stream", stream)
    if (Result.isFailure(validStream)) return yield* Effect.fail(validStream.failure)
    const validName = Topology.validateName("consumer", name)
    if (Result.isFailure(validName)) return yield* Effect.fail(validName.failure)
    yield* call(() => manager.consumers.delete(stream, name), {
      operation: `delete consumer ${stream}/${name}`,
      stream,
      consumer: name
    })
  })

  const listStreams = Effect.map(
    streamInfos,
    (infos) => infos.map((info) => Config.fromNatsStream(info.config)) as ReadonlyArray<Topology.StreamConfig>
  ).pipe(Effect.withSpan("NatsTopology.listStreams"))

  const consumerConfig = Effect.fn("NatsTopology.consumerConfig")(function*(stream: string, name: string) {
    const validStream = Topology.validateName("stream", stream)
    if (Result.isFailure(validStream)) return yield* Effect.fail(validStream.failure)
    const validName = Topology.validateName("consumer", name)
    if (Result.isFailure(validName)) return yield* Effect.fail(validName.failure)
    const info = yield* consumerInfo(stream, name)
    return yield* Effect.fromResult(Config.fromNatsConsumer(stream, info.config))
  })

  return { ensureStream, ensureConsumer, deleteStream, deleteConsumer, listStreams, consumerConfig }
}
