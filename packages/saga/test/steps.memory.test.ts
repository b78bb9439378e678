/**
 * `Saga.steps` on the memory store, under `TestClock`.
 */
import { IdGenerator } from "@herald/identity"
import { MemoryTransport } from "@herald/testing"
import { describe } from "@effect/vitest"
import * as Layer from "effect/Layer"
import { SagaMemory } from "../src/index.ts"
import { stepsSuite } from "./stepsSuite.ts"

describe("Saga.steps on the memory store", () => {
  stepsSuite({
    fresh: () => SagaMemory.layer.pipe(Layer.provideMerge(MemoryTransport.layer), Layer.merge(IdGenerator.layer)),
    clock: "test"
  })
})
