import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { blocks, moduleName, readmes } from "../readmes.ts"

const root = path.resolve(import.meta.dirname, "../..")

describe("READMEs", () => {
  it("every ts block is checked or says it is partial, and names are unique", () => {
    const all = readmes().flatMap(blocks)
    expect(all.length).toBeGreaterThan(30)
    const names = all.map(moduleName)
    expect(new Set(names).size).toBe(names.length)
    for (const block of all.filter((b) => b.partial)) {
      expect(block.code.split("\n")[0]).toMatch(/^\s*\/\/\s*partial\b.{8,}/)
    }
  })

  it("the top README's example runs", () => {
    expect(runFirstExample("README.md")).toContain("billing o-1")
  })

  it("the replay README's example runs and prints what it says", () => {
    const output = runFirstExample("packages/replay/README.md")
    expect(output).toBe(
      "replayed 2,3,4,5 of 4\n" +
        "restored from 4 to 7: {\"b\":9,\"a\":112}\n" +
        "projection at 7, 7 applied, checkpoint stored: true\n"
    )
  })

  it("the metrics README's example runs and scrapes exact counts", () => {
    const output = runFirstExample("packages/metrics/README.md")
    const labels = (op: string) =>
      `messaging_operation_type="${op === "append" ? "send" : "process"}",messaging_operation_name="${op}",messaging_destination_name="ORDERS"`
    expect(output).toBe(
      `messaging_client_sent_messages{${labels("append")}} 3\n` +
        `messaging_client_consumed_messages{${labels("consume")},messaging_consumer_group_name="billing"} 2\n` +
        `messaging_client_consumed_messages{${labels("consume")},messaging_consumer_group_name="billing",error_type="CardDeclined"} 3\n` +
        `herald_dead_letters{${labels("consume")},messaging_consumer_group_name="billing",herald_dead_letter_reason="max_deliver"} 1\n`
    )
  })

  it("the saga README's example runs and prints both runs", () => {
    const output = runFirstExample("packages/saga/README.md")
    expect(output).toContain("completed: OrderPlaced → CardCharged → OrderShipped\n")
    expect(output).toContain("compensated: OrderPlaced → CardCharged → ShippingFailed → CardRefunded\n")
  })
})

/** Runs the first ts block of a README with Node, from the sources; answers its standard output. */
const runFirstExample = (readme: string): string => {
  const [example] = blocks(path.join(root, readme))
  expect(example).toBeDefined()
  const dir = fs.mkdtempSync(path.join(import.meta.dirname, "..", ".run-"))
  try {
    const file = path.join(dir, "example.ts")
    fs.writeFileSync(file, example!.code)
    return execFileSync(
      process.execPath,
      ["--conditions=@herald/source", "--disable-warning=ExperimentalWarning", file],
      { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }
    )
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
