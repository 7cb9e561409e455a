#!/usr/bin/env node
// Compiles the contracts (contracts/Koku.sol, contracts/KokuBills.sol) with the solc pinned in
// package.json and writes the artifacts the Python service deploys from:
// src/kokudaka/chain/artifacts/<Contract>.json.
//
//   node contracts/compile.mjs          write the artifact
//   node contracts/compile.mjs --check  recompile in memory; exit 1 if a committed artifact differs
//
// The output is byte-for-byte reproducible: source names are relative ("contracts/Koku.sol",
// "@openzeppelin/contracts/..."), the metadata hash is left out of the bytecode, and the JSON is
// written with sorted keys, 2-space indentation and a trailing newline. CI runs --check so the
// committed bytecode always matches the committed source.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Each contract is compiled on its own, from its own source file of the same name.
const CONTRACTS = ["Koku", "KokuBills"];
const artifactPath = (contract) => join(REPO_ROOT, "src", "kokudaka", "chain", "artifacts", `${contract}.json`);
const EXPECTED_SOLC = "0.8.28";

function die(code, message) {
  process.stderr.write(`compile.mjs: ${message}\n`);
  process.exit(code);
}

// Resolves "@openzeppelin/contracts/..." (and any other package import) through node_modules,
// the way `npm ci` laid it out, and "contracts/..." from the repository.
function findImports(importPath) {
  try {
    if (importPath.startsWith("contracts/")) {
      return { contents: readFileSync(join(REPO_ROOT, importPath), "utf8") };
    }
    return { contents: readFileSync(require.resolve(importPath), "utf8") };
  } catch (err) {
    return { error: `cannot resolve import ${importPath}: ${err.message}. Did you run npm ci?` };
  }
}

// JSON with object keys sorted at every level, so the artifact does not depend on solc's key order.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    );
  }
  return value;
}

function compile(contractName) {
  const sourceName = `contracts/${contractName}.sol`;
  const version = solc.version();
  if (!version.startsWith(`${EXPECTED_SOLC}+`)) {
    die(2, `solc ${version} found, ${EXPECTED_SOLC} expected: run npm ci`);
  }
  const source = readFileSync(join(REPO_ROOT, sourceName), "utf8");
  const input = {
    language: "Solidity",
    sources: { [sourceName]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      // Cancun runs on every current chain; anvil's newer default hardfork executes it unchanged.
      evmVersion: "cancun",
      // No IPFS/Swarm hash of the metadata in the bytecode: the bytecode then depends only on the
      // code and the compiler, not on comments or on where the files live.
      metadata: { bytecodeHash: "none" },
      outputSelection: { [sourceName]: { [contractName]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const problems = output.errors ?? [];
  for (const problem of problems) {
    process.stderr.write(problem.formattedMessage ?? `${problem.severity}: ${problem.message}\n`);
  }
  if (problems.some((problem) => problem.severity === "error")) die(2, "compilation failed");
  const contract = output.contracts?.[sourceName]?.[contractName];
  if (!contract) die(2, `no ${contractName} in the compiler output`);
  const artifact = sortKeys({
    contractName,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    // The runtime code a deployment must hold: how the service tells this version from another.
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    solcVersion: version,
    sourceSha256: createHash("sha256").update(source, "utf8").digest("hex"),
  });
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

const check = process.argv.includes("--check");
for (const contract of CONTRACTS) {
  const artifact = artifactPath(contract);
  const fresh = compile(contract);
  const shown = relative(REPO_ROOT, artifact).split(sep).join("/");
  if (check) {
    const committed = existsSync(artifact) ? readFileSync(artifact, "utf8") : null;
    if (committed === null) die(1, `${shown} is missing: run node contracts/compile.mjs`);
    if (committed !== fresh) {
      die(1, `${shown} is stale: it differs from a fresh compile of contracts/${contract}.sol. Run node contracts/compile.mjs and commit it.`);
    }
    process.stdout.write(`${shown} is up to date\n`);
  } else {
    mkdirSync(dirname(artifact), { recursive: true });
    writeFileSync(artifact, fresh);
    process.stdout.write(`wrote ${shown}\n`);
  }
}
