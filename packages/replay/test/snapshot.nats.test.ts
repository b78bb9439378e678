/**
 * State projections and snapshots on a real nats-server (one per file),
 * through `@herald/transport-nats`, stored in NATS KV (`SnapshotKv`); and
 * the store contract on `SnapshotKv`.
 */
import { describe, layer } from "@effect/vitest"
import { NatsServer } from "@herald/testing"
import { NatsConnection, NatsTransport } from "@herald/transport-nats"
import { Kvm } from "@nats-io/kv"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SnapshotKv } from "../src/kv.ts"
import { snapshotSuite } from "./snapshotSuite.ts"
import { storeSuite } from "./storeSuite.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) => NatsTransport.layer({ servers: server.url, name: "snapshot-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

let buckets = 0
const uniqueBucket = () => `snapshots_${++buckets}`

describe("Snapshots on nats-server, stored in NATS KV", () => {
  layer(Nats, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    snapshotSuite({
      runs: 25,
      test: (name, body, timeout) =>
        it.effect(
          name,
          () => Effect.scoped(Effect.provide(body(), SnapshotKv.layer({ bucket: uniqueBucket(), storage: "memory" }))),
          timeout
        )
    })
  })
})

const current = new Map<string, string>()

storeSuite("SnapshotStore contract: SnapshotKv", {
  shared: Nats,
  fresh: () =>
    Layer.unwrap(Effect.sync(() => {
      const bucket = uniqueBucket()
      current.set("bucket", bucket)
      return SnapshotKv.layer({ bucket, storage: "memory" })
    })),
  kind: "kv",
  corrupt: (name, sequence) =>
    Effect.flatMap(Effect.service(NatsConnection.NatsConnection), (connection) =>
      Effect.promise(async () => {
        const kv = await new Kvm(connection.jetstream).open(current.get("bucket")!)
        await kv.put(SnapshotKv.keyOf(name, sequence), "{not json")
      }))
})
