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
 * A filter other than `>` that matches every subject of a stream, if there
 * is one: `*.>` when every subject has two tokens or more, `*` when every
 * one has exactly one. nats-server 2.9 purges with a filter message by
 * message and with the stream's own first sequence; without one (or with
 * `>`) it compacts, which counts `keep` in sequences rather than messages
 * and, when the target sequence was deleted, brings a deleted message back
 * (file storage) or fails (memory storage).
 *
 * @internal
 */
export const coveringFilter = (subjects: ReadonlyArray<string>): string | undefined => {
  if (subjects.length === 0) return undefined
  const tokens = subjects.map((s) => s.split("."))
  if (tokens.every((t) => t.length >= 2)) return "*.>"
  if (tokens.every((t) => t.length === 1 && t[0] !== ">")) return "*"
  return undefined
}

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

  const purge = Effect.fn("NatsTopology.purge")(function*(stream: string, options?: Topology.PurgeOptions) {
    const valid = Topology.validatePurge(stream, options)
    if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    const context = { stream, operation: `purge ${stream}` }
    const info: StreamInfo = yield* call(() => manager.streams.info(stream), context)
    const upTo = options?.upToSequence
    const keep = options?.keep
    // Nothing is below sequence 1; JetStream would read `seq: 1` as "everything".
    if (upTo === 1) return { purged: 0 } satisfies Topology.PurgeResult
    const subject = options?.subject === ">" ? undefined : options?.subject
    if (subject === undefined) {
      if (upTo === undefined && keep === undefined) {
        const response = yield* call(() => manager.streams.purge(stream), context)
        return { purged: response.purged } satisfies Topology.PurgeResult
      }
      const cover = coveringFilter(info.config.subjects ?? [])
      if (cover !== undefined) {
        const response = yield* call(
          () => manager.streams.purge(stream, upTo === undefined ? { filter: cover, keep: keep! } : { filter: cover, seq: upTo }),
          context
        )
        return { purged: response.purged } satisfies Topology.PurgeResult
      }
    }
    return yield* purgeEach(stream, info, subject ?? ">", upTo, keep)
  })

  // One by one: what a filter cannot select on 2.9 without harm.
  const purgeEach = Effect.fn("NatsTopology.purgeEach")(function*(
    stream: string,
    info: StreamInfo,
    subject: string,
    upTo: number | undefined,
    keep: number | undefined
  ) {
    const end = upTo === undefined ? info.state.last_seq : Math.min(info.state.last_seq, upTo - 1)
    const sequences: Array<number> = []
    let next = info.state.first_seq
    while (next <= end) {
      const from = next
      // (`next_by_subj` is in the server's API, not in nats.js's `MsgRequest` type.)
      const query = { seq: from, next_by_subj: subject }
      const stored = yield* call(() => manager.streams.getMessage(stream, query), {
        operation: `purge ${stream}: find ${subject} from sequence ${from}`,
        stream
      })
      if (stored === null || stored.seq > end) break
      sequences.push(stored.seq)
      next = stored.seq + 1
    }
    const victims = keep === undefined ? sequences : sequences.slice(0, Math.max(0, sequences.length - keep))
    let purged = 0
    for (const seq of victims) {
      const removed = yield* call(() => manager.streams.deleteMessage(stream, seq, false), {
        operation: `purge ${stream}: delete sequence ${seq}`,
        stream
      }).pipe(
        // Removed meanwhile (a limit, another purge): not this purge's.
        Effect.catchReason("TransportError", "Unknown", (reason) =>
          /no message found/i.test(reason.detail) ? Effect.succeed(false) : Effect.fail(TransportError.make(reason)))
      )
      if (removed) purged++
    }
    return { purged } satisfies Topology.PurgeResult
  })

  return { ensureStream, ensureConsumer, deleteStream, deleteConsumer, listStreams, consumerConfig, purge }
}
