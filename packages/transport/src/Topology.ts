/**
 * The `Topology` contract: streams and durable consumers declared in code.
 *
 * `ensure` runs the `OverlapGuard` over the declared streams and the streams
 * already on the server, then creates what is missing and updates what
 * drifted, and reports what it did. A change the server refuses is a
 * `TopologyConflict`; overlapping subjects fail before anything is created,
 * with every overlapping pair named.
 *
 * @since 0.1.0
 */
import { OverlapGuard, SubjectPattern } from "@herald/subject"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Millis from "./Millis.ts"
import * as TransportError from "./TransportError.ts"

/**
 * A stream: which subjects it captures and what it keeps.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamConfig {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly description?: string | undefined
  /** `limits` (default) keeps messages until a limit removes them; `workqueue` removes a message once acked; `interest` once every consumer acked. */
  readonly retention?: "limits" | "interest" | "workqueue" | undefined
  /** `file` (default) or `memory`. A memory stream does not survive a server restart. */
  readonly storage?: "file" | "memory" | undefined
  readonly maxMessages?: number | undefined
  readonly maxBytes?: number | undefined
  readonly maxAge?: Duration.Input | undefined
  readonly maxMessageSize?: number | undefined
  readonly maxMessagesPerSubject?: number | undefined
  /** What happens when a limit is reached: `old` (default) removes the oldest, `new` refuses the append. */
  readonly discard?: "old" | "new" | undefined
  /** The window in which a repeated message id is a duplicate (default 2 minutes). */
  readonly duplicateWindow?: Duration.Input | undefined
  readonly replicas?: number | undefined
}

/**
 * Where a new consumer starts.
 *
 * @since 0.1.0
 * @category models
 */
export type DeliverPolicy =
  | { readonly _tag: "All" }
  | { readonly _tag: "New" }
  | { readonly _tag: "Last" }
  | { readonly _tag: "LastPerSubject" }
  | { readonly _tag: "ByStartSequence"; readonly sequence: number }
  | { readonly _tag: "ByStartTime"; readonly time: number }

/**
 * Deliver-policy constructors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const DeliverPolicy = {
  all: { _tag: "All" } as DeliverPolicy,
  new: { _tag: "New" } as DeliverPolicy,
  last: { _tag: "Last" } as DeliverPolicy,
  lastPerSubject: { _tag: "LastPerSubject" } as DeliverPolicy,
  byStartSequence: (sequence: number): DeliverPolicy => ({ _tag: "ByStartSequence", sequence }),
  byStartTime: (time: number): DeliverPolicy => ({ _tag: "ByStartTime", time })
} as const

/**
 * A durable pull consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerConfig {
  readonly stream: string
  /** The durable name. */
  readonly name: string
  readonly description?: string | undefined
  /** Only messages whose subject matches this pattern (default: all). */
  readonly filterSubject?: string | undefined
  /** Default `All`. */
  readonly deliverPolicy?: DeliverPolicy | undefined
  /** How long a delivery may stay unacknowledged before it is redelivered (default 30 s). */
  readonly ackWait?: Duration.Input | undefined
  /** Deliveries of one message before the server gives up on it (default unlimited). */
  readonly maxDeliver?: number | undefined
  /**
   * Redelivery delays after an ack timeout, by delivery count; the last one
   * repeats. Needs `maxDeliver` greater than the number of steps.
   */
  readonly backoff?: ReadonlyArray<Duration.Input> | undefined
  /** Unacknowledged deliveries the server allows at once (default 1,000). */
  readonly maxAckPending?: number | undefined
  /** Where messages that cannot be handled go (default `herald.dlq.<stream>.<consumer>`). */
  readonly deadLetterSubject?: string | undefined
}

/**
 * Streams and consumers declared together.
 *
 * @since 0.1.0
 * @category models
 */
export interface Declaration {
  /** Default: none. */
  readonly streams?: ReadonlyArray<StreamConfig> | undefined
  /** Default: none. */
  readonly consumers?: ReadonlyArray<ConsumerConfig> | undefined
}

/**
 * What `ensure` did to one stream or consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly kind: "stream" | "consumer"
  readonly name: string
  readonly action: "created" | "updated" | "unchanged"
}

/**
 * What `purge` removes. At most one of `upToSequence` and `keep`, alone or
 * with `subject`; no option removes every message.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeOptions {
  /**
   * Only messages whose subject matches this subject or pattern (`*` and `>`
   * wildcards allowed). `>` matches every message, as no `subject` does.
   */
  readonly subject?: string | undefined
  /**
   * Only messages with a sequence below this one: "up to but not including",
   * as JetStream's `seq`. A positive integer; `1` removes nothing, and a
   * sequence past the last one removes every (matching) message without
   * changing the stream's last sequence.
   */
  readonly upToSequence?: number | undefined
  /**
   * Keep the last this many (matching) messages and remove the others, as
   * JetStream's `keep`: counted in messages, not sequences. A non-negative
   * integer; `0` keeps none.
   */
  readonly keep?: number | undefined
}

/**
 * What `purge` did.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeResult {
  /** How many messages were removed. */
  readonly purged: number
}

/**
 * The topology contract.
 *
 * @since 0.1.0
 * @category services
 */
export class Topology extends Context.Service<Topology, {
  /**
   * Creates the stream, or updates it when it drifted. Subjects that overlap
   * another stream's fail with `TopologyConflict`, as the server refuses
   * them; `ensure` checks a whole declaration first and names every pair.
   */
  readonly ensureStream: (config: StreamConfig) => Effect.Effect<Change, TransportError.TransportError>
  /** Creates the consumer, or updates it when it drifted. */
  readonly ensureConsumer: (config: ConsumerConfig) => Effect.Effect<Change, TransportError.TransportError>
  readonly deleteStream: (name: string) => Effect.Effect<void, TransportError.TransportError>
  readonly deleteConsumer: (stream: string, name: string) => Effect.Effect<void, TransportError.TransportError>
  /** The streams that exist, with their subjects. */
  readonly listStreams: Effect.Effect<ReadonlyArray<StreamConfig>, TransportError.TransportError>
  /** A consumer's configuration as the server holds it. */
  readonly consumerConfig: (
    stream: string,
    name: string
  ) => Effect.Effect<ConsumerConfig, TransportError.TransportError>
  /**
   * Removes stored messages (all of them, or those `options` select) and
   * answers how many. The stream's last sequence stays; its first sequence
   * moves to the first message left (`EventLog.info` reports `0` for a
   * stream left empty). Consumers see the removed messages as gone: after a
   * purge of the whole stream (no `subject`, or `>`) a durable consumer's
   * delivered and acknowledged floors move up to the first message left, as
   * JetStream moves them. Options are checked with {@link validatePurge}
   * before anything is sent; an unknown stream fails with `StreamNotFound`.
   *
   * @since 0.1.0
   */
  readonly purge: (
    stream: string,
    options?: PurgeOptions
  ) => Effect.Effect<PurgeResult, TransportError.TransportError>
}>()("@herald/transport/Topology") {}

/**
 * The subject prefix of default dead-letter subjects.
 *
 * @since 0.1.0
 * @category constants
 */
export const deadLetterPrefix = "herald.dlq"

/**
 * The dead-letter subject of a consumer.
 *
 * @since 0.1.0
 * @category dead letters
 */
export const deadLetterSubject = (config: Pick<ConsumerConfig, "stream" | "name" | "deadLetterSubject">): string =>
  config.deadLetterSubject ?? `${deadLetterPrefix}.${config.stream}.${config.name}`

/**
 * A stream capturing every default dead-letter subject.
 *
 * @since 0.1.0
 * @category dead letters
 */
export const deadLetterStream = (options?: Partial<StreamConfig>): StreamConfig => ({
  name: "HERALD_DLQ",
  subjects: [`${deadLetterPrefix}.>`],
  description: "Messages that could not be handled, with their reasons",
  ...options
})

const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

// JetStream names: no whitespace, no `.`, `*`, `>`, path separators; at most 255 characters.
const badName = /[\s.*>/\\]/

/**
 * Checks a stream or consumer name.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateName = (what: string, name: string): Result.Result<void, TransportError.TransportError> => {
  if (name.length === 0) return Result.fail(invalid(`${what} name is empty`))
  if (name.length > 255) return Result.fail(invalid(`${what} name ${name.slice(0, 32)}… is longer than 255 characters`))
  const at = name.search(badName)
  if (at >= 0) {
    return Result.fail(
      invalid(`${what} name ${JSON.stringify(name)} has ${JSON.stringify(name[at])} at ${at}; names may not contain whitespace, '.', '*', '>', '/' or '\\'`)
    )
  }
  return Result.void
}

const positiveInt = (what: string, value: number | undefined): Result.Result<void, TransportError.TransportError> =>
  value === undefined || (Number.isSafeInteger(value) && value > 0)
    ? Result.void
    : Result.fail(invalid(`${what} must be a positive integer, got ${value}`))

const positiveDuration = (what: string, value: Duration.Input | undefined): Result.Result<void, TransportError.TransportError> =>
  value === undefined
    ? Result.void
    : Result.mapBoth(Millis.decode(value, { min: 1 }), {
      onFailure: (p) => invalid(`${what} must be a positive finite duration: ${p.message}`),
      onSuccess: () => undefined
    })

const pattern = (what: string, subject: string): Result.Result<void, TransportError.TransportError> =>
  Result.mapBoth(SubjectPattern.make(subject), {
    onFailure: (e) =>
      TransportError.make(new TransportError.InvalidSubject({ subject, detail: `${what}: ${e.message}`, cause: e })),
    onSuccess: () => undefined
  })

const all = (checks: ReadonlyArray<Result.Result<void, TransportError.TransportError>>) => {
  for (const c of checks) if (Result.isFailure(c)) return c
  return Result.void
}

/**
 * Checks a stream configuration: name, subjects, limits. Both transports call
 * it before they touch anything.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateStream = (config: StreamConfig): Result.Result<void, TransportError.TransportError> =>
  all([
    validateName("stream", config.name),
    config.subjects.length === 0 ? Result.fail(invalid(`stream ${config.name} has no subjects`)) : Result.void,
    ...config.subjects.map((s) => pattern(`stream ${config.name}`, s)),
    positiveInt(`stream ${config.name}: maxMessages`, config.maxMessages),
    positiveInt(`stream ${config.name}: maxBytes`, config.maxBytes),
    positiveInt(`stream ${config.name}: maxMessageSize`, config.maxMessageSize),
    positiveInt(`stream ${config.name}: maxMessagesPerSubject`, config.maxMessagesPerSubject),
    positiveInt(`stream ${config.name}: replicas`, config.replicas),
    positiveDuration(`stream ${config.name}: maxAge`, config.maxAge),
    positiveDuration(`stream ${config.name}: duplicateWindow`, config.duplicateWindow),
    OverlapGuard.find([{ name: config.name, subjects: config.subjects }]).length > 0
      ? Result.fail(invalid(`stream ${config.name}: its own subjects overlap`))
      : Result.void
  ])

/**
 * Checks a consumer configuration. `maxDeliver` must exceed the number of
 * backoff steps, as JetStream requires.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateConsumer = (config: ConsumerConfig): Result.Result<void, TransportError.TransportError> => {
  const name = `consumer ${config.stream}/${config.name}`
  return all([
    validateName("stream", config.stream),
    validateName("consumer", config.name),
    config.filterSubject === undefined ? Result.void : pattern(`${name}: filterSubject`, config.filterSubject),
    positiveDuration(`${name}: ackWait`, config.ackWait),
    positiveInt(`${name}: maxDeliver`, config.maxDeliver),
    positiveInt(`${name}: maxAckPending`, config.maxAckPending),
    ...(config.backoff ?? []).map((b, i) => positiveDuration(`${name}: backoff[${i}]`, b)),
    config.backoff !== undefined && config.backoff.length > 0 && config.maxDeliver === undefined
      ? Result.fail(invalid(`${name}: backoff needs maxDeliver (more than ${config.backoff.length}, the number of backoff steps)`))
      : Result.void,
    config.backoff !== undefined && config.backoff.length > 0 && config.maxDeliver !== undefined &&
      config.maxDeliver <= config.backoff.length
      ? Result.fail(invalid(`${name}: maxDeliver (${config.maxDeliver}) must exceed the number of backoff steps (${config.backoff.length})`))
      : Result.void,
    config.deliverPolicy?._tag === "ByStartSequence" && !(Number.isSafeInteger(config.deliverPolicy.sequence) && config.deliverPolicy.sequence > 0)
      ? Result.fail(invalid(`${name}: start sequence must be a positive integer`))
      : Result.void,
    config.deadLetterSubject === undefined
      ? Result.void
      : Result.mapError(SubjectPattern.make(config.deadLetterSubject), (e) =>
        TransportError.make(new TransportError.InvalidSubject({ subject: config.deadLetterSubject!, detail: e.message })))
        .pipe(Result.flatMap(() =>
          SubjectPattern.isWildcard(config.deadLetterSubject as SubjectPattern.SubjectPattern)
            ? Result.fail(invalid(`${name}: deadLetterSubject may not contain wildcards`))
            : Result.void
        ))
  ])
}

const nonNegativeInt = (what: string, value: unknown): Result.Result<void, TransportError.TransportError> =>
  value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value >= 0)
    ? Result.void
    : Result.fail(invalid(`${what} must be a non-negative integer, got ${String(value)}`))

/**
 * Checks the arguments of `purge`: the stream name; `options` an object with
 * `subject` a valid subject or pattern, `upToSequence` a positive integer,
 * `keep` a non-negative integer, and not both `upToSequence` and `keep`
 * (JetStream refuses them together). Every failure is `InvalidConfig`
 * naming the option. Both transports call it before they touch anything.
 *
 * @since 0.1.0
 * @category validation
 */
export const validatePurge = (stream: string, options?: PurgeOptions): Result.Result<void, TransportError.TransportError> => {
  const name = validateName("stream", stream)
  if (Result.isFailure(name)) return name
  if (options === undefined) return Result.void
  if (!isObject(options)) return Result.fail(invalid(`purge ${stream}: options must be an object`))
  const { keep, subject, upToSequence } = options
  if (subject !== undefined) {
    if (typeof subject !== "string") {
      return Result.fail(invalid(`purge ${stream}: subject must be a string, got ${typeof subject}`))
    }
    const valid = SubjectPattern.make(subject)
    if (Result.isFailure(valid)) {
      return Result.fail(TransportError.make(
        new TransportError.InvalidConfig({ detail: `purge ${stream}: subject: ${valid.failure.message}`, cause: valid.failure })
      ))
    }
  }
  if (upToSequence !== undefined && keep !== undefined) {
    return Result.fail(invalid(`purge ${stream}: upToSequence and keep cannot be combined`))
  }
  if (
    upToSequence !== undefined &&
    !(typeof upToSequence === "number" && Number.isSafeInteger(upToSequence) && upToSequence > 0)
  ) {
    return Result.fail(invalid(`purge ${stream}: upToSequence must be a positive integer, got ${String(upToSequence)}`))
  }
  return nonNegativeInt(`purge ${stream}: keep`, keep)
}

const isObject = (u: unknown): boolean => typeof u === "object" && u !== null && !Array.isArray(u)

/** The declaration's lists, or `InvalidConfig` naming what is not a list of configurations. */
const declarationShape = (declaration: unknown): Result.Result<{
  readonly streams: ReadonlyArray<StreamConfig>
  readonly consumers: ReadonlyArray<ConsumerConfig>
}, TransportError.TransportError> => {
  if (!isObject(declaration)) return Result.fail(invalid("the declaration is not an object of streams and consumers"))
  const { streams = [], consumers = [] } = declaration as Declaration
  for (const [name, list] of [["streams", streams], ["consumers", consumers]] as const) {
    if (!Array.isArray(list)) return Result.fail(invalid(`${name} is not an array`))
    const at = list.findIndex((entry) => !isObject(entry))
    if (at >= 0) return Result.fail(invalid(`${name}[${at}] is not a configuration object`))
  }
  return Result.succeed({ streams, consumers })
}

/**
 * Ensures a whole declaration: validates every stream and consumer, runs the
 * overlap guard over the declared streams and the server's other streams,
 * then creates or updates streams, then consumers.
 *
 * @since 0.1.0
 * @category operations
 */
export const ensure = Effect.fn("Topology.ensure")(function*(declaration: Declaration) {
  const topology = yield* Topology
  const shape = declarationShape(declaration)
  if (Result.isFailure(shape)) return yield* Effect.fail(shape.failure)
  const { streams, consumers } = shape.success
  for (const s of streams) {
    const v = validateStream(s)
    if (Result.isFailure(v)) return yield* Effect.fail(v.failure)
  }
  for (const c of consumers) {
    const v = validateConsumer(c)
    if (Result.isFailure(v)) return yield* Effect.fail(v.failure)
  }
  const declared = new Set(streams.map((s) => s.name))
  const existing = (yield* topology.listStreams).filter((s) => !declared.has(s.name))
  const overlaps = OverlapGuard.find(
    [...streams, ...existing].map((s) => ({ name: s.name, subjects: s.subjects }))
  )
  if (overlaps.length > 0) {
    const pairs = overlaps.map((o) =>
      `stream ${o.a.stream} ${JSON.stringify(o.a.pattern)} overlaps stream ${o.b.stream} ${JSON.stringify(o.b.pattern)}`
    )
    return yield* Effect.fail(TransportError.make(new TransportError.TopologyConflict({ detail: pairs.join("; ") })))
  }
  const changes: Array<Change> = []
  for (const s of streams) changes.push(yield* topology.ensureStream(s))
  for (const c of consumers) changes.push(yield* topology.ensureConsumer(c))
  return changes as ReadonlyArray<Change>
})
