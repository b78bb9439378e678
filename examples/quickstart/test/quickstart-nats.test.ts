import { describe, expect, layer } from "@effect/vitest"
import { CausationTree, IdGenerator } from "@herald/identity"
import { NatsServer } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { program } from "../src/Quickstart.ts"

const transport = Layer.unwrap(
  Effect.map(NatsServer.NatsServer, (server) => NatsTransport.layer({ servers: server.url, name: "quickstart" }))
)

describe("quickstart on nats-server", () => {
  layer(NatsServer.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("runs the same flow on a real server, twice, each with its own tree", () =>
      Effect.gen(function*() {
        const first = yield* program
        const second = yield* program
        for (const result of [first, second]) {
          expect(result.status).toBe("shipping")
          expect(result.messages).toHaveLength(6)
          expect(CausationTree.roots(result.tree).map((n) => n.value.type)).toEqual(["PlaceOrder"])
          expect(CausationTree.maxDepth(result.tree)).toBe(3)
          expect(CausationTree.orphans(result.tree)).toHaveLength(0)
        }
        // The second run found the topology in place and kept the flows apart.
        expect(first.messages[0]!.identity.correlationId).not.toBe(second.messages[0]!.identity.correlationId)
      }).pipe(Effect.provide(Layer.mergeAll(transport, IdGenerator.layer))), 60_000)
  })
})
