/**
 * State projections and snapshots on the in-memory transport with the
 * memory snapshot store, and the store contract on `SnapshotMemory`.
 */
import { describe, it } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SnapshotMemory } from "../src/index.ts"
import { snapshotSuite } from "./snapshotSuite.ts"
import { storeSuite } from "./storeSuite.ts"

describe("Snapshots on the memory transport, memory store", () => {
  snapshotSuite({
    runs: 100,
    test: (name, body, timeout) =>
      it.effect(
        name,
        () => Effect.scoped(Effect.provide(body(), Layer.merge(MemoryTransport.layer, SnapshotMemory.layer))),
        timeout
      )
  })
})

storeSuite("SnapshotStore contract: SnapshotMemory", {
  shared: Layer.empty,
  fresh: () => SnapshotMemory.layer,
  kind: "memory"
})
