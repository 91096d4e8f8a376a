// Builds build/index.js from src/server.js, stamping the build time into it. The start
// command runs the built file, so the web service only starts after a real build.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const source = readFileSync("src/server.js", "utf8");
if (!source.includes("__BUILD_STAMP__")) {
  console.error("src/server.js has no __BUILD_STAMP__ placeholder");
  process.exit(1);
}
mkdirSync("build", { recursive: true });
writeFileSync("build/index.js", source.replaceAll("__BUILD_STAMP__", new Date().toISOString()));
console.log("web built: build/index.js");
