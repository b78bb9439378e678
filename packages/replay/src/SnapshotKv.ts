/**
 * The NATS KV `SnapshotStore`: one key per snapshot in a JetStream KV
 * bucket. Import it from `@herald/replay/kv`; it needs
 * `@herald/transport-nats`'s `NatsConnection` and `@nats-io/kv` (optional
 * peer dependencies of the package).
 *
 * ```ts
 * const Snapshots = SnapshotKv.layer({ bucket: "billing_snapshots" })
 * ```
 *
 * | key | value |
 * |---|---|
 * | `s.<name>.<sequence>` | `{ name, stream, sequence, state, at }` as JSON |
 *
 * `<name>` is `keyToken(name)` (any string, escaped into a valid key
 * token); `<sequence>` is zero-padded to 16 digits, so that keys sort by
 * sequence. `latest`, `list` and `prune` list the projection's keys and read
 * them: fine for the handful of snapshots a projection keeps (`prune`
 * them). A value must fit the server's maximum payload (1 MB by default).
 * The bucket keeps one revision per key and has no TTL.
 *
 * Errors: a failed request is a `StoreError`; a stored value that does not
 * parse is a `CorruptState`.
 *
 * @since 0.1.0
 */
import { NatsConnection, NatsKv } from "@herald/transport-nats"
import { type KV, type KvEntry, Kvm } from "@nats-io/kv"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
// The package's own main entry, not its files: at runtime and in the built
// declarations, the KV store shares `Snapshot` and `ReplayError` with it.
import { ReplayError, Snapshot } from "@herald/replay"

/**
 * Options of the KV store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The bucket (default `herald_snapshots`): letters, digits, `-` and `_`. */
  readonly bucket?: string | undefined
  /** Replicas of the bucket's stream (default 1). */
  readonly replicas?: number | undefined
  /** `file` (default) or `memory` (lost when a single server restarts). */
  readonly storage?: "file" | "memory" | undefined
}

/**
 * The default bucket.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBucket = "herald_snapshots"


/**
 * A KV key token for any string: letters, digits, `_` and `-` stay; any
 * other byte of its UTF-8 encoding becomes `=XX` (hex). Injective, and a
 * valid KV key token (no `.`, `*`, `>`). The empty string is `=`.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyToken: (s: string) => string = NatsKv.keyToken

/**
 * The key of a snapshot.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (name: string, sequence: number): string =>
  `s.${keyToken(name)}.${String(sequence).padStart(16, "0")}`

interface Value {
  readonly name: string
  readonly stream: string
  readonly sequence: number
  readonly state: unknown
  readonly at: number
}

/**
 * Opens (creating it when missing) the bucket and builds the store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Snapshot.SnapshotStore["Service"], ReplayError.ReplayError, NatsConnection.NatsConnection> = Effect
  .fn("SnapshotKv.make")(function*(options?: Options) {
    const connection = yield* NatsConnection.NatsConnection
    const bucket = options?.bucket ?? defaultBucket
    if (typeof bucket !== "string" || !NatsKv.isBucketName(bucket)) {
      return yield* Effect.fail(
        ReplayError.invalid(`KV bucket ${JSON.stringify(bucket)}: letters, digits, '-' and '_' only`)
      )
    }
    const replicas = options?.replicas ?? 1
    if (!(Number.isSafeInteger(replicas) && replicas > 0)) {
      return yield* Effect.fail(ReplayError.invalid(`KV store: replicas must be a positive integer, got ${replicas}`))
    }
    const storage = options?.storage ?? "file"
    if (storage !== "file" && storage !== "memory") {
      return yield* Effect.fail(ReplayError.invalid(`KV store: storage must be "file" or "memory", got ${String(storage)}`))
    }
    const { call, label } = NatsKv.calls(bucket, ReplayError.store)

    const kv: KV = yield* call("open", () => new Kvm(connection.jetstream).create(bucket, { history: 1, replicas, storage }))

    const toStored = (name: string, entry: KvEntry): Effect.Effect<Snapshot.Stored, ReplayError.ReplayError> => {
      try {
        const value = entry.json<Value>()
        if (
          typeof value !== "object" || value === null || typeof value.stream !== "string" ||
          !Number.isSafeInteger(value.sequence) || !Number.isSafeInteger(value.at) || !("state" in value)
        ) {
          return Effect.fail(Snapshot.corrupt(name, `snapshot key ${entry.key}: not a snapshot document`))
        }
        return Effect.succeed({ name, stream: value.stream, sequence: value.sequence, state: value.state, at: value.at })
      } catch (cause) {
        return Effect.fail(Snapshot.corrupt(name, `snapshot key ${entry.key}: the stored JSON does not parse`, cause))
      }
    }

    /** The projection's keys, highest sequence first. */
    const keysOf = (name: string) =>
      Effect.flatMap(call("keys", () => kv.keys(`s.${keyToken(name)}.*`)), (names) =>
        Stream.fromAsyncIterable(names, (e) => ReplayError.store(`keys (${label})`, e)).pipe(
          Stream.runCollect,
          Effect.map((found) => Array.from(found).sort().reverse())
        ))

    const read = (name: string, key: string) =>
      Effect.flatMap(call("get", () => kv.get(key)), (entry) =>
        entry === null || entry.operation !== "PUT"
          ? Effect.succeed(Option.none<Snapshot.Stored>())
          : Effect.map(toStored(name, entry), Option.some))

    const save = (name: string, entry: Snapshot.Entry) =>
      Effect.gen(function*() {
        const state = yield* Effect.fromResult(Snapshot.check(name, entry))
        const value = `{"name":${JSON.stringify(name)},"stream":${
          JSON.stringify(entry.stream)
        },"sequence":${entry.sequence},"state":${state},"at":${entry.at}}`
        yield* call("put", () => kv.put(keyOf(name, entry.sequence), value))
      })

    const list = (name: string) =>
      Effect.flatMap(keysOf(name), (keys) =>
        Effect.map(
          Effect.forEach(keys, (key) => read(name, key), { concurrency: 16 }),
          (found) => found.flatMap((o) => Option.isSome(o) ? [o.value] : [])
        ))

    const latest = (name: string) =>
      Effect.gen(function*() {
        // Keys listed but deleted meanwhile are passed over.
        for (const key of yield* keysOf(name)) {
          const found = yield* read(name, key)
          if (Option.isSome(found)) return found
        }
        return Option.none<Snapshot.Stored>()
      })

    const prune = (name: string, keep: number) =>
      Effect.gen(function*() {
        const checked = yield* Effect.fromResult(Snapshot.checkCount("keep", keep))
        const old = (yield* keysOf(name)).slice(checked)
        yield* Effect.forEach(old, (key) => call("purge", () => kv.purge(key)), { discard: true, concurrency: 16 })
        return old.length
      })

    const remove = (name: string, sequence: number) =>
      Effect.gen(function*() {
        const checked = yield* Effect.fromResult(Snapshot.checkCount("sequence", sequence))
        const key = keyOf(name, checked)
        const entry = yield* call("get", () => kv.get(key))
        if (entry === null || entry.operation !== "PUT") return false
        yield* call("purge", () => kv.purge(key))
        return true
      })

    return Snapshot.SnapshotStore.of({
      kind: "kv",
      save: (name, entry) => Effect.asVoid(save(name, entry)),
      latest,
      list,
      prune,
      remove
    })
  })

/**
 * The KV store as a layer over a `NatsConnection` (`NatsTransport.layer`
 * provides one).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Snapshot.SnapshotStore, ReplayError.ReplayError, NatsConnection.NatsConnection> =>
  Layer.effect(Snapshot.SnapshotStore, make(options))

