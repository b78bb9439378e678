/**
 * Herald's stream and consumer configurations as JetStream's, and back: a
 * server's configuration in `TopologyConfig`'s normal form, which `ensure`
 * compares with the declared one to decide between unchanged and updated.
 *
 * @since 0.1.0
 * @internal
 */
import { SubjectPattern } from "@herald/subject"
import { Topology, TopologyConfig, TransportError } from "@herald/transport"
import type {
  ConsumerConfig as NatsConsumerConfig,
  StreamConfig as NatsStreamConfig
} from "@nats-io/jetstream"
import * as Result from "effect/Result"

const nanosPerMilli = 1_000_000

/** Milliseconds as JetStream nanoseconds (whole numbers). */
export const nanos = (ms: number): number => Math.round(ms * nanosPerMilli)

/** JetStream nanoseconds as whole milliseconds, the unit `ensure` compares in. */
export const millisOf = (ns: number | undefined): number => ns === undefined ? 0 : Math.round(ns / nanosPerMilli)

/** A limit of the normal form (`0`: unlimited) from JetStream's (`-1`, or `0`, for unlimited). */
const limit = (n: number | undefined): number => n === undefined || n <= 0 ? 0 : n

/** A limit of the normal form as JetStream's: `-1` for unlimited. */
const natsLimit = (n: number): number => n > 0 ? n : -1

const conflict = (detail: string) => TransportError.make(new TransportError.TopologyConflict({ detail }))
const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

// -----------------------------------------------------------------------------
// streams
// -----------------------------------------------------------------------------

/**
 * The normal form of a stream as the server holds it.
 *
 * @internal
 */
export const normalizeServer = (config: NatsStreamConfig): TopologyConfig.NormalStream => ({
  subjects: [...(config.subjects ?? [])].sort(),
  description: config.description ?? "",
  retention: config.retention,
  storage: config.storage,
  maxMessages: limit(config.max_msgs),
  maxBytes: limit(config.max_bytes),
  maxAgeMillis: millisOf(config.max_age),
  maxMessageSize: limit(config.max_msg_size),
  maxMessagesPerSubject: limit(config.max_msgs_per_subject),
  discard: config.discard,
  duplicateWindowMillis: millisOf(config.duplicate_window),
  replicas: config.num_replicas > 0 ? config.num_replicas : 1
})

/**
 * The JetStream configuration of a declared stream (with its normal form):
 * every field Herald manages is set, so that an update also clears what the
 * declaration no longer has. Subjects keep their declared order.
 *
 * @internal
 */
export const toNatsStream = (
  config: Topology.StreamConfig,
  norm: TopologyConfig.NormalStream
): Partial<NatsStreamConfig> & { name: string } => ({
  name: config.name,
  subjects: [...config.subjects],
  description: norm.description,
  retention: norm.retention,
  storage: norm.storage,
  max_msgs: natsLimit(norm.maxMessages),
  max_bytes: natsLimit(norm.maxBytes),
  max_age: nanos(norm.maxAgeMillis),
  max_msg_size: natsLimit(norm.maxMessageSize),
  max_msgs_per_subject: natsLimit(norm.maxMessagesPerSubject),
  discard: norm.discard,
  duplicate_window: nanos(norm.duplicateWindowMillis),
  num_replicas: norm.replicas
})

/**
 * A stream as Herald describes it (`TopologyConfig.toStreamConfig`).
 *
 * @internal
 */
export const fromNatsStream = (config: NatsStreamConfig): Topology.StreamConfig =>
  TopologyConfig.toStreamConfig(config.name, normalizeServer(config), config.subjects ?? [])

// -----------------------------------------------------------------------------
// consumer descriptions: Herald's own settings
// -----------------------------------------------------------------------------

// nats-server 2.9 has no consumer `metadata` (2.10 added it, and 2.9 drops it
// silently), so Herald keeps its own consumer settings in the description, as
// a suffix: `<description> [herald:dlq=<subject>]`.
const suffix = /(?:^| )\[herald:dlq=([^\]\s]+)\]$/

/**
 * A consumer description with Herald's settings appended.
 *
 * @internal
 */
export const encodeDescription = (description: string | undefined, deadLetterSubject: string | undefined): string => {
  const text = description ?? ""
  if (deadLetterSubject === undefined) return text
  return text === "" ? `[herald:dlq=${deadLetterSubject}]` : `${text} [herald:dlq=${deadLetterSubject}]`
}

/**
 * A consumer description split into the user's text and Herald's settings.
 *
 * @internal
 */
export const decodeDescription = (
  text: string | undefined
): { readonly description: string | undefined; readonly deadLetterSubject: string | undefined } => {
  const full = text ?? ""
  const m = suffix.exec(full)
  const description = m === null ? full : full.slice(0, m.index)
  return {
    description: description === "" ? undefined : description,
    deadLetterSubject: m === null ? undefined : m[1]
  }
}

// -----------------------------------------------------------------------------
// consumers
// -----------------------------------------------------------------------------

const natsDeliver = (policy: Topology.DeliverPolicy | undefined): Pick<
  NatsConsumerConfig,
  "deliver_policy" | "opt_start_seq" | "opt_start_time"
> => {
  switch (policy?._tag) {
    case undefined:
    case "All":
      return { deliver_policy: "all" }
    case "New":
      return { deliver_policy: "new" }
    case "Last":
      return { deliver_policy: "last" }
    case "LastPerSubject":
      return { deliver_policy: "last_per_subject" }
    case "ByStartSequence":
      return { deliver_policy: "by_start_sequence", opt_start_seq: policy.sequence }
    case "ByStartTime":
      return { deliver_policy: "by_start_time", opt_start_time: new Date(policy.time).toISOString() }
  }
}

/**
 * The JetStream configuration of a declared durable pull consumer (with its
 * normal form): explicit acks, instant replay, every field Herald manages
 * set. With `backoff`, the ack wait sent is its first step, which JetStream
 * would store anyway.
 *
 * @internal
 */
export const toNatsConsumer = (
  config: Topology.ConsumerConfig,
  norm: TopologyConfig.NormalConsumer
): Partial<NatsConsumerConfig> => ({
  durable_name: config.name,
  description: encodeDescription(config.description, config.deadLetterSubject),
  ack_policy: "explicit",
  replay_policy: "instant",
  ...natsDeliver(config.deliverPolicy),
  ...(norm.filterSubject === "" ? {} : { filter_subject: norm.filterSubject }),
  ack_wait: nanos(norm.ackWaitMillis),
  max_deliver: natsLimit(norm.maxDeliver),
  ...(norm.backoffMillis.length === 0 ? {} : { backoff: norm.backoffMillis.map(nanos) }),
  max_ack_pending: natsLimit(norm.maxAckPending)
})

/**
 * The normal form of a consumer as the server holds it, Herald's settings
 * read back from its description.
 *
 * @internal
 */
export const normalizeServerConsumer = (config: NatsConsumerConfig): TopologyConfig.NormalConsumer => {
  const backoffMillis = (config.backoff ?? []).map(millisOf)
  const { deadLetterSubject, description } = decodeDescription(config.description)
  return {
    description: description ?? "",
    filterSubject: config.filter_subject ?? (config.filter_subjects?.length === 1 ? config.filter_subjects[0]! : ""),
    deliverPolicy: TopologyConfig.deliverPolicyKey(fromDeliver(config)),
    ackWaitMillis: backoffMillis.length > 0
      ? backoffMillis[0]!
      : config.ack_wait === undefined
      ? TopologyConfig.defaultAckWaitMillis
      : millisOf(config.ack_wait),
    maxDeliver: limit(config.max_deliver),
    backoffMillis,
    maxAckPending: config.max_ack_pending === undefined || config.max_ack_pending === 0
      ? TopologyConfig.defaultMaxAckPending
      : limit(config.max_ack_pending),
    deadLetterSubject: deadLetterSubject ?? ""
  }
}

/**
 * Checks what JetStream refuses of a new or changed consumer and
 * `validateConsumer` does not: the filter must fall within the stream's
 * subjects; a workqueue stream's consumers deliver all.
 *
 * @internal
 */
export const checkConsumer = (
  config: Topology.ConsumerConfig,
  stream: NatsStreamConfig
): Result.Result<void, TransportError.TransportError> => {
  const name = `consumer ${config.stream}/${config.name}`
  if (config.filterSubject !== undefined) {
    const filter = SubjectPattern.makeUnsafe(config.filterSubject)
    const subjects = (stream.subjects ?? []).map((s) => SubjectPattern.makeUnsafe(s))
    if (!subjects.some((p) => SubjectPattern.overlaps(p, filter))) {
      return Result.fail(
        invalid(`${name}: filterSubject ${JSON.stringify(config.filterSubject)} matches none of the stream's subjects`)
      )
    }
  }
  if (stream.retention === "workqueue" && config.deliverPolicy !== undefined && config.deliverPolicy._tag !== "All") {
    return Result.fail(invalid(`${name}: a consumer of a workqueue stream must deliver all`))
  }
  return Result.void
}

/**
 * Refuses, before anything is sent, a consumer change Herald does not make
 * in place: the deliver policy (JetStream refuses it), the filter (refused by
 * the in-memory transport and by JetStream before 2.10; kept refused
 * everywhere so that both transports behave alike), and taking over a
 * consumer that is not a Herald pull consumer (ack policy other than
 * explicit, or a push consumer).
 *
 * @internal
 */
export const checkConsumerChange = (
  config: Topology.ConsumerConfig,
  existing: NatsConsumerConfig,
  existingNorm: TopologyConfig.NormalConsumer,
  declared: TopologyConfig.NormalConsumer
): Result.Result<void, TransportError.TransportError> => {
  const name = `consumer ${config.stream}/${config.name}`
  if (existing.ack_policy !== "explicit") {
    return Result.fail(conflict(`${name}: ack policy cannot be changed from ${existing.ack_policy} to explicit`))
  }
  if (existing.deliver_subject !== undefined && existing.deliver_subject !== "") {
    return Result.fail(conflict(`${name}: it is a push consumer (deliver subject ${existing.deliver_subject}); Herald's consumers are pull consumers`))
  }
  if ((existing.filter_subjects ?? []).length > 1) {
    return Result.fail(conflict(`${name}: it filters on several subjects (${existing.filter_subjects!.join(", ")}); Herald's consumers have one filter`))
  }
  return TopologyConfig.checkConsumerChange(config.stream, config.name, existingNorm, declared)
}

const fromDeliver = (config: NatsConsumerConfig): Topology.DeliverPolicy => {
  switch (config.deliver_policy) {
    case "new":
      return Topology.DeliverPolicy.new
    case "last":
      return Topology.DeliverPolicy.last
    case "last_per_subject":
      return Topology.DeliverPolicy.lastPerSubject
    case "by_start_sequence":
      return Topology.DeliverPolicy.byStartSequence(config.opt_start_seq ?? 0)
    case "by_start_time":
      return Topology.DeliverPolicy.byStartTime(config.opt_start_time === undefined ? 0 : Date.parse(config.opt_start_time))
    default:
      return Topology.DeliverPolicy.all
  }
}

/**
 * A consumer as Herald describes it, Herald's settings read back from the
 * description. Fails with `InvalidConfig` for a consumer Herald's
 * `ConsumerConfig` cannot describe (several filter subjects, a 2.10 feature).
 *
 * @internal
 */
export const fromNatsConsumer = (
  stream: string,
  config: NatsConsumerConfig
): Result.Result<Topology.ConsumerConfig, TransportError.TransportError> => {
  const name = config.durable_name ?? config.name ?? ""
  if ((config.filter_subjects ?? []).length > 1) {
    return Result.fail(
      invalid(`consumer ${stream}/${name} filters on several subjects (${config.filter_subjects!.join(", ")}), which Herald's ConsumerConfig cannot describe`)
    )
  }
  return Result.succeed(TopologyConfig.toConsumerConfig(stream, name, normalizeServerConsumer(config)))
}
