/**
 * Projections on the in-memory transport with the in-memory checkpoint
 * store, under `TestClock`: the runner's polls are driven by
 * `TestClock.adjust`.
 */
import { describe, it } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { CheckpointMemory } from "../src/index.ts"
import { projectionSuite } from "./projectionSuite.ts"
import { memoryTarget } from "./targets.ts"

describe("Projections: memory transport, memory checkpoints", () => {
  projectionSuite({
    atomic: false,
    advance: (duration) => TestClock.adjust(duration),
    pollInterval: Duration.millis(100),
    target: () => memoryTarget(),
    test: (name, body) =>
      it.effect(name, () => Effect.scoped(body()).pipe(Effect.provide(Layer.merge(MemoryTransport.layer, CheckpointMemory.layer))))
  })
})
