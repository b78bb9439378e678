import { describe, expect, it } from "@effect/vitest"
import { CausationTree, Ids, MessageIdentity } from "@herald/identity"
import { Effect, Option, Result } from "effect"
import * as fc from "fast-check"

const id = Ids.messageIdUnsafe
const root = (m: string) => MessageIdentity.root(id(m))
const derive = (parent: MessageIdentity.MessageIdentity, m: string) => MessageIdentity.derive(parent, id(m))
/** An identity with an arbitrary causation id (for orphans and cycles). */
const caused = (m: string, cause: string) =>
  Result.getOrThrow(MessageIdentity.make({ messageId: m, correlationId: "conv", causationId: cause }))

const ids = (nodes: ReadonlyArray<CausationTree.Node<MessageIdentity.MessageIdentity>>) =>
  nodes.map((n) => n.identity.messageId)
const msgIds = (items: ReadonlyArray<MessageIdentity.MessageIdentity>) => items.map((i) => i.messageId)

// order -> payment -> receipt
//       -> stock
// invoice (second root)
const order = root("order")
const payment = derive(order, "payment")
const stock = derive(order, "stock")
const receipt = derive(payment, "receipt")
const invoice = root("invoice")

describe("CausationTree", () => {
  describe("a small forest", () => {
    // input deliberately not in causal order
    const tree = CausationTree.fromIdentities([receipt, payment, invoice, order, stock])

    it("roots, children, parent, depth", () => {
      expect(ids(CausationTree.roots(tree))).toEqual(["invoice", "order"])
      expect(ids(CausationTree.children(tree, "order"))).toEqual(["payment", "stock"])
      expect(ids(CausationTree.children(tree, "payment"))).toEqual(["receipt"])
      expect(ids(CausationTree.children(tree, "receipt"))).toEqual([])
      expect(ids(CausationTree.children(tree, "nope"))).toEqual([])
      expect(Option.map(CausationTree.parent(tree, "receipt"), (n) => n.identity.messageId)).toEqual(
        Option.some("payment")
      )
      expect(Option.map(CausationTree.parent(tree, "stock"), (n) => n.identity.messageId)).toEqual(
        Option.some("order")
      )
      expect(CausationTree.parent(tree, "order")).toEqual(Option.none())
      expect(CausationTree.parent(tree, "nope")).toEqual(Option.none())
      expect(CausationTree.depth(tree, "order")).toEqual(Option.some(0))
      expect(CausationTree.depth(tree, "payment")).toEqual(Option.some(1))
      expect(CausationTree.depth(tree, "receipt")).toEqual(Option.some(2))
      expect(CausationTree.depth(tree, "invoice")).toEqual(Option.some(0))
      expect(CausationTree.depth(tree, "nope")).toEqual(Option.none())
      expect(CausationTree.maxDepth(tree)).toBe(2)
      expect(CausationTree.size(tree)).toBe(5)
      expect(CausationTree.orphans(tree)).toEqual([])
      expect(CausationTree.cycles(tree)).toEqual([])
      expect(CausationTree.duplicates(tree)).toEqual([])
      expect(CausationTree.has(tree, "stock")).toBe(true)
      expect(CausationTree.has(tree, "nope")).toBe(false)
    })

    it("nodes carry identity, value, children and depth", () => {
      const node = Option.getOrThrow(CausationTree.get(tree, "payment"))
      expect(node.identity).toBe(payment)
      expect(node.value).toBe(payment)
      expect(node.depth).toBe(1)
      expect(node.children.map((c) => c.value)).toEqual([receipt])
    })

    it("causalOrder puts parents first and keeps sibling input order", () => {
      expect(msgIds(CausationTree.causalOrder(tree))).toEqual(["invoice", "order", "payment", "receipt", "stock"])
    })

    it("data-last forms work with pipe", () => {
      expect(tree.pipe(CausationTree.children("order"), ids)).toEqual(["payment", "stock"])
      expect(tree.pipe(CausationTree.depth("receipt"))).toEqual(Option.some(2))
    })

    it("render draws an ASCII tree", () => {
      const three = CausationTree.fromIdentities([order, payment, stock, receipt])
      expect(CausationTree.render(three, (i) => i.messageId)).toBe(
        [
          "order",
          "├─ payment",
          "│  └─ receipt",
          "└─ stock"
        ].join("\n")
      )
    })

    it("render draws every top-level tree and continues guides through deep siblings", () => {
      const a1 = derive(order, "a1")
      const a2 = derive(a1, "a2")
      const a3 = derive(a2, "a3")
      const b1 = derive(a1, "b1")
      const t = CausationTree.fromIdentities([order, a1, a2, a3, b1, stock, invoice, caused("lost", "gone")])
      expect(CausationTree.render(t, (i) => i.messageId)).toBe(
        [
          "order",
          "├─ a1",
          "│  ├─ a2",
          "│  │  └─ a3",
          "│  └─ b1",
          "└─ stock",
          "invoice",
          "lost"
        ].join("\n")
      )
      expect(CausationTree.render(CausationTree.fromIdentities([]), (i) => i.messageId)).toBe("")
    })
  })

  describe("make with other items", () => {
    it("keeps the items as values", () => {
      const events = [
        { name: "placed", identity: order },
        { name: "paid", identity: payment },
        { name: "reserved", identity: stock }
      ]
      const tree = CausationTree.make(events, (e) => e.identity)
      expect(CausationTree.causalOrder(tree).map((e) => e.name)).toEqual(["placed", "paid", "reserved"])
      expect(CausationTree.render(tree, (e) => e.name)).toBe("placed\n├─ paid\n└─ reserved")
    })

    it("accepts any iterable", () => {
      function* gen() {
        yield order
        yield payment
      }
      expect(CausationTree.size(CausationTree.fromIdentities(gen()))).toBe(2)
    })
  })

  describe("imperfect input", () => {
    it("orphans are reported and become subtree tops", () => {
      const lost = caused("lost", "missing-parent")
      const lostChild = derive(lost, "lost-child")
      const tree = CausationTree.fromIdentities([order, lostChild, lost, payment])
      expect(ids(CausationTree.orphans(tree))).toEqual(["lost"])
      expect(ids(CausationTree.roots(tree))).toEqual(["order"])
      expect(CausationTree.depth(tree, "lost")).toEqual(Option.some(0))
      expect(CausationTree.depth(tree, "lost-child")).toEqual(Option.some(1))
      expect(CausationTree.parent(tree, "lost")).toEqual(Option.none())
      expect(msgIds(CausationTree.causalOrder(tree))).toEqual(["order", "payment", "lost", "lost-child"])
      expect(CausationTree.render(tree, (i) => i.messageId)).toBe("order\n└─ payment\nlost\n└─ lost-child")
    })

    it("a root is not a cycle", () => {
      const tree = CausationTree.fromIdentities([order])
      expect(CausationTree.cycles(tree)).toEqual([])
      expect(ids(CausationTree.roots(tree))).toEqual(["order"])
    })

    it("a 2-cycle is reported once and left out of the forest", () => {
      const a = caused("a", "b")
      const b = caused("b", "a")
      const tree = CausationTree.fromIdentities([order, b, a, payment])
      expect(CausationTree.cycles(tree)).toEqual([["b", "a"]])
      expect(msgIds(CausationTree.causalOrder(tree))).toEqual(["order", "payment"])
      expect(CausationTree.size(tree)).toBe(4)
      expect(CausationTree.depth(tree, "a")).toEqual(Option.none())
      expect(CausationTree.has(tree, "a")).toBe(true)
      expect(CausationTree.orphans(tree)).toEqual([])
      expect(CausationTree.render(tree, (i) => i.messageId)).toBe("order\n└─ payment")
    })

    it("longer cycles are listed in causal order from their first member, with detached descendants", () => {
      // x -> y -> z -> x, plus w caused by y and v caused by w
      const x = caused("x", "z")
      const y = caused("y", "x")
      const z = caused("z", "y")
      const w = caused("w", "y")
      const v = caused("v", "w")
      const p = caused("p", "q")
      const q = caused("q", "p")
      const tree = CausationTree.fromIdentities([w, p, z, v, y, q, x, order])
      expect(CausationTree.cycles(tree)).toEqual([["p", "q"], ["z", "x", "y"]])
      expect(ids(CausationTree.detached(tree))).toEqual(["w"])
      expect(ids(CausationTree.children(tree, "y"))).toEqual(["w"])
      expect(CausationTree.parent(tree, "w")).toEqual(Option.none())
      expect(CausationTree.depth(tree, "w")).toEqual(Option.some(0))
      expect(CausationTree.depth(tree, "v")).toEqual(Option.some(1))
      expect(msgIds(CausationTree.causalOrder(tree))).toEqual(["order", "w", "v"])
      expect(CausationTree.render(tree, (i) => i.messageId)).toBe("order\nw\n└─ v")
      expect(CausationTree.size(tree)).toBe(8)
    })

    it("duplicates keep the first item and report the rest", () => {
      const first = { n: 1, identity: payment }
      const second = { n: 2, identity: payment }
      const third = { n: 3, identity: payment }
      const tree = CausationTree.make(
        [{ n: 0, identity: order }, first, second, third],
        (e) => e.identity
      )
      expect(CausationTree.duplicates(tree)).toEqual([second, third])
      expect(CausationTree.size(tree)).toBe(2)
      expect(CausationTree.children(tree, "order").map((c) => c.value)).toEqual([first])
    })
  })

  describe("properties", () => {
    // A random forest: node i is a root or is caused by an earlier node; some
    // causes point at missing messages (orphans), and a few extra 2-cycles.
    const arbForest = fc.record({
      parents: fc.array(fc.integer({ min: -2, max: 1_000 }), { maxLength: 200 }),
      cycles: fc.integer({ min: 0, max: 3 }),
      seed: fc.integer()
    })

    const build = ({ parents, cycles }: { parents: ReadonlyArray<number>; cycles: number }) => {
      const items: Array<MessageIdentity.MessageIdentity> = []
      parents.forEach((p, i) => {
        const m = `n${i}`
        if (p === -1 || i === 0) items.push(root(m))
        else if (p === -2) items.push(caused(m, `missing${i}`))
        else items.push(derive(items[p % i]!, m))
      })
      const cycleIds = new Set<string>()
      for (let c = 0; c < cycles; c++) {
        items.push(caused(`c${c}a`, `c${c}b`), caused(`c${c}b`, `c${c}a`))
        cycleIds.add(`c${c}a`).add(`c${c}b`)
      }
      return { items, cycleIds }
    }

    it("causalOrder has parents before children and every non-cycle item, for any input order", () => {
      fc.assert(fc.property(arbForest, fc.context(), (input, ctx) => {
        const { cycleIds, items } = build(input)
        const shuffled = fc.sample(fc.shuffledSubarray(items, { minLength: items.length }), {
          numRuns: 1,
          seed: input.seed
        })[0]!
        ctx.log(shuffled.map((i) => i.messageId).join(","))
        const tree = CausationTree.fromIdentities(shuffled)
        const order = CausationTree.causalOrder(tree)
        const position = new Map(order.map((item, k) => [item.messageId as string, k]))

        expect(order.length).toBe(items.length - cycleIds.size)
        for (const item of items) {
          expect(position.has(item.messageId)).toBe(!cycleIds.has(item.messageId))
        }
        for (const item of order) {
          const p = position.get(item.causationId)
          if (p !== undefined && !MessageIdentity.isRoot(item)) {
            expect(p).toBeLessThan(position.get(item.messageId)!)
          }
        }
        // siblings keep input order
        const inputIndex = new Map(shuffled.map((item, k) => [item.messageId as string, k]))
        for (const item of order) {
          const kids = CausationTree.children(tree, item.messageId).map((n) => inputIndex.get(n.value.messageId)!)
          expect(kids).toEqual([...kids].sort((a, b) => a - b))
        }
        expect(CausationTree.cycles(tree).length).toBe(input.cycles)
        expect(CausationTree.size(tree)).toBe(items.length)
        const lines = CausationTree.render(tree, (i) => i.messageId)
        expect(lines === "" ? 0 : lines.split("\n").length).toBe(order.length)
        // depth = parent's depth + 1
        for (const item of order) {
          const d = Option.getOrThrow(CausationTree.depth(tree, item.messageId))
          const parentDepth = CausationTree.parent(tree, item.messageId).pipe(Option.map((n) => n.depth))
          expect(d).toBe(Option.getOrElse(Option.map(parentDepth, (pd) => pd + 1), () => 0))
        }
      }), { numRuns: 200 })
    })
  })

  describe("scale", () => {
    it.effect("builds a 100,000-node tree with a 50,000-deep chain", () =>
      Effect.sync(() => {
        const items: Array<MessageIdentity.MessageIdentity> = []
        const top = root("top")
        items.push(top)
        // wide: 49,999 direct children of the root
        for (let i = 0; i < 49_999; i++) items.push(derive(top, `w${i}`))
        // deep: a chain of 50,000 below the root
        let last = top
        for (let i = 0; i < 50_000; i++) {
          last = derive(last, `d${i}`)
          items.push(last)
        }
        items.reverse() // children before parents in the input
        const tree = CausationTree.fromIdentities(items)
        expect(CausationTree.size(tree)).toBe(100_000)
        expect(CausationTree.roots(tree).length).toBe(1)
        expect(CausationTree.children(tree, "top").length).toBe(50_000)
        expect(CausationTree.maxDepth(tree)).toBe(50_000)
        expect(CausationTree.depth(tree, "d49999")).toEqual(Option.some(50_000))
        expect(CausationTree.depth(tree, "w123")).toEqual(Option.some(1))
        const order = CausationTree.causalOrder(tree)
        expect(order.length).toBe(100_000)
        expect(order[0]!.messageId).toBe("top")
        expect(CausationTree.orphans(tree)).toEqual([])
        expect(CausationTree.cycles(tree)).toEqual([])
      }))

    it("handles a 100,000-deep chain and a 100,000-long cycle without recursion", () => {
      const chain: Array<MessageIdentity.MessageIdentity> = [root("c0")]
      for (let i = 1; i < 100_000; i++) chain.push(derive(chain[i - 1]!, `c${i}`))
      const tree = CausationTree.fromIdentities(chain)
      expect(CausationTree.maxDepth(tree)).toBe(99_999)
      expect(CausationTree.causalOrder(tree).length).toBe(100_000)

      const ring: Array<MessageIdentity.MessageIdentity> = []
      for (let i = 0; i < 100_000; i++) ring.push(caused(`r${i}`, `r${(i + 99_999) % 100_000}`))
      const ringTree = CausationTree.fromIdentities(ring)
      expect(CausationTree.cycles(ringTree).length).toBe(1)
      expect(CausationTree.cycles(ringTree)[0]!.length).toBe(100_000)
      expect(CausationTree.cycles(ringTree)[0]!.slice(0, 3)).toEqual(["r0", "r1", "r2"])
      expect(CausationTree.causalOrder(ringTree)).toEqual([])
    })
  })
})
