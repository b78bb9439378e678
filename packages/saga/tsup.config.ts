import { defineConfig } from "tsup"
import shared from "../../tsup.shared.ts"

// Two entries: the package, and `@herald/saga/kv` (the NATS KV store, whose
// dependencies are optional peers). The KV entry imports the main one by
// name (kept external), so that both share one `SagaStore` and one
// `SagaError`, at runtime and in the declarations.
export default defineConfig({ ...shared, entry: ["src/index.ts", "src/kv.ts"], external: ["@herald/saga"] })
