import { defineConfig } from "tsup"
import shared from "../../tsup.shared.ts"

// Two entries: the package, and `@herald/replay/kv` (the NATS KV snapshot
// store, whose dependencies are optional peers). The KV entry imports the
// main one by name (kept external), so that both share one `Snapshot` and
// one `ReplayError`, at runtime and in the declarations.
export default defineConfig({ ...shared, entry: ["src/index.ts", "src/kv.ts"], external: ["@herald/replay"] })
