// The front-end's build: writes build/info.json, which the server needs to start.
// It must never write variable values into the output: some of them are build secrets.
import { mkdirSync, writeFileSync } from "node:fs";

mkdirSync("build", { recursive: true });
const info = { service: "monorepo-web", builtAt: new Date().toISOString(), node: process.version };
writeFileSync("build/info.json", JSON.stringify(info, null, 2) + "\n");
console.log(`monorepo-web built with node ${process.version}`);
