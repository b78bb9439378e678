/**
 * Traces on the in-memory transport (live clock: redeliveries wait their nak delay).
 */
import { layer } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import { suite } from "./tracingSuite.ts"

let counter = 0
const unique = () => {
  const n = ++counter
  return { prefix: `tm${n}`, stream: `TM${n}` }
}

layer(MemoryTransport.layer, { excludeTestServices: true, timeout: "30 seconds" })("Tracing (memory)", (it) => {
  suite(it, unique)
})
