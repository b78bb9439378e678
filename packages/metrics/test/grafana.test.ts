/**
 * The Grafana dashboard shipped with the package: valid JSON whose queries
 * name only metrics and labels the package exports.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Semconv } from "../src/index.ts"

const prometheus = (name: string) => name.replace(/\./g, "_")

describe("the Grafana dashboard", () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "../grafana/herald.json"), "utf8")) as {
    readonly panels: ReadonlyArray<{ readonly title: string; readonly targets: ReadonlyArray<{ readonly expr: string }> }>
  }
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))

  it("has the panels an operator looks at first", () => {
    assert.deepStrictEqual(dashboard.panels.map((p) => p.title), [
      "Messages sent per second",
      "Messages consumed per second",
      "Errors per second",
      "Processing latency p99",
      "Consumer lag",
      "Dead letters and redeliveries (per hour)",
      "Outbox backlog",
      "Outbox oldest pending age",
      "Inbox duplicates skipped (per hour)",
      "Saga transitions per second",
      "Saga instances by status"
    ])
  })

  it("every metric and label in its queries is one the package exports", () => {
    const metrics = new Set(Object.values(Semconv.Metrics).map(prometheus))
    const labels = new Set([...Object.values(Semconv.Attributes).map(prometheus), "le"])
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(?:messaging|herald)_[a-z_]+\b(?![=!])/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, "")
        assert.isTrue(metrics.has(base) || labels.has(name), `${name} in ${expr}`)
      }
      for (const [, list] of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of list!.split(",").map((l) => l.trim())) assert.isTrue(labels.has(label), `${label} in ${expr}`)
      }
      for (const [, label] of expr.matchAll(/([a-z_]+)(?:=|!=)"/g)) assert.isTrue(labels.has(label!), `${label} in ${expr}`)
    }
  })
})
