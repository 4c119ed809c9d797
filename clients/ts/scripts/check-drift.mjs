// Fails when src/schema.d.ts is not what `npm run generate` (make client) would write from
// ../../schema.yml right now: the same drift check as schema.yml's, one step further down.
// It runs the very command `generate` runs, with its output sent to stdout instead of the file.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (/** @type {string} */ relative) => fileURLToPath(new URL(relative, import.meta.url));
const cli = here("../node_modules/openapi-typescript/bin/cli.js");
const schema = here("../../../schema.yml");
const generated = here("../src/schema.d.ts");
const fix = "Run `make client` (or `npm run generate` in clients/ts) and commit src/schema.d.ts.";

if (!existsSync(cli)) {
  console.error("openapi-typescript is not installed: run `npm ci` in clients/ts first.");
  process.exit(2);
}
if (!existsSync(generated)) {
  console.error(`Schema drift: ${generated} is missing. ${fix}`);
  process.exit(1);
}

const expected = execFileSync(process.execPath, [cli, schema], {
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
  stdio: ["ignore", "pipe", "inherit"],
});
const actual = readFileSync(generated, "utf8");

if (actual !== expected) {
  const want = expected.split("\n");
  const have = actual.split("\n");
  let line = 0;
  while (line < want.length && want[line] === have[line]) line += 1;
  console.error(
    [
      "Schema drift: clients/ts/src/schema.d.ts does not match schema.yml.",
      `First difference at line ${line + 1}:`,
      `  committed: ${have[line] ?? "<end of file>"}`,
      `  generated: ${want[line] ?? "<end of file>"}`,
      fix,
    ].join("\n"),
  );
  process.exit(1);
}
