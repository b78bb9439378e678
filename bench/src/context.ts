/**
 * What every case gets: Herald's services on their own connection, a raw
 * nats.js connection of its own, both to the same nats-server, and the sizes.
 */
import type { Bus, EventLog } from "@herald/transport"
import type { JetStreamClient, JetStreamManager, StorageType } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"

export interface Sizes {
  /** Messages per core publish/subscribe run. */
  readonly pubsub: number
  /** Sequential requests per request/reply run. */
  readonly requests: number
  /** Appends per sequential append run. */
  readonly appendSequential: number
  /** Appends per pipelined append run. */
  readonly appendPipelined: number
  /** Appends in flight at once in a pipelined run. */
  readonly window: number
  /** Messages in the stream a consume run reads to the end. */
  readonly consume: number
  /** Messages per outbox enqueue+relay run. */
  readonly outbox: number
  /** `Outbox.publish` calls per outbox transaction. */
  readonly outboxTx: number
  /** Partition keys of the keyed outbox rows (message i has key i mod this). */
  readonly outboxKeys: number
  /** Outbox transactions running at once. */
  readonly outboxWriters: number
  /** Messages read per inbox run (the first ones of the consume stream). */
  readonly inbox: number
  /** Herald's consume concurrency in the inbox row. */
  readonly inboxConcurrency: number
  /** The batched inbox side of the inbox row: batch size, linger, consume concurrency. */
  readonly inboxBatch: {
    readonly size: number
    readonly lingerMillis: number
    readonly transactions: number
    readonly concurrency: number
  }
  /** Sagas per saga run (4 transitions each). */
  readonly saga: number
  /** The saga runner's concurrency, and the baseline's, in the saga row. */
  readonly sagaConcurrency: number
  /** Messages in the replay stream (the replay rows read all of it; the flow of 12 is among them). */
  readonly replay: number
  /** Messages in the stream the metrics-and-tracing consume rows read (more than a 1 s run consumes). */
  readonly observedConsume: number
  /** Messages in the stream of the peak RSS row, consumed to the end by each run's process. */
  readonly rss: number
  /** Counted runs of each side (after one warm-up run each). */
  readonly runs: number
}

export interface BenchContext {
  readonly bus: Bus.Bus["Service"]
  readonly eventLog: EventLog.EventLog["Service"]
  /** The nats-server's URL (for the processes of the peak RSS row). */
  readonly serverUrl: string
  /** The raw side's connection. */
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  /** Setup and teardown of streams and consumers for both sides (never timed). */
  readonly jsm: JetStreamManager
  readonly storage: StorageType
  readonly sizes: Sizes
}

/** Rejects when the promise takes longer than `ms`: a broken run fails instead of hanging the bench. */
export const within = <A>(ms: number, what: string, promise: Promise<A>): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The same guard for an Effect. */
export const withinEffect = <A, E, R>(ms: number, what: string) => (self: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(self, {
    duration: ms,
    orElse: () => Effect.die(new Error(`${what}: no result after ${ms} ms`))
  })

export const runTimeoutMillis = 60_000
