import { describe, expect, it } from "@effect/vitest"
import { CausationTree, IdGenerator, MessageIdentity } from "@herald/identity"
import { MemoryTransport } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { program } from "../src/Quickstart.ts"

const layer = Layer.mergeAll(MemoryTransport.layer, IdGenerator.layerTest)

describe("quickstart", () => {
  it.live("runs the flow and builds a causation tree of four levels", () =>
    Effect.gen(function*() {
      const result = yield* program
      expect(result.status).toBe("shipping")
      expect(result.messages.map((m) => m.type).sort()).toEqual([
        "GetOrderStatus",
        "OrderPlaced",
        "OrderStatus",
        "PlaceOrder",
        "ShipmentScheduled",
        "StockReserved"
      ])
      const roots = CausationTree.roots(result.tree)
      expect(roots.map((n) => n.value.type)).toEqual(["PlaceOrder"])
      expect(CausationTree.maxDepth(result.tree)).toBe(3)
      expect(CausationTree.orphans(result.tree)).toHaveLength(0)
      expect(CausationTree.causalOrder(result.tree).map((e) => e.type)).toEqual([
        "PlaceOrder",
        "OrderPlaced",
        "StockReserved",
        "ShipmentScheduled",
        "GetOrderStatus",
        "OrderStatus"
      ])
      const byType = new Map(result.messages.map((m) => [m.type, m]))
      const placed = byType.get("OrderPlaced")!
      expect(MessageIdentity.isCausedBy(placed.identity, byType.get("PlaceOrder")!.identity)).toBe(true)
      expect(MessageIdentity.isCausedBy(byType.get("OrderStatus")!.identity, byType.get("GetOrderStatus")!.identity)).toBe(true)
      expect(result.rendered.split("\n")).toHaveLength(6)
    }).pipe(Effect.provide(layer)))
})
