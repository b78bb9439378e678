/**
 * The transport conformance suite against the in-memory transport, under
 * `TestClock`.
 */
import * as Conformance from "../src/Conformance.ts"
import * as MemoryTransport from "../src/MemoryTransport.ts"

Conformance.suite("memory", { layer: MemoryTransport.layer, clock: "test" })
