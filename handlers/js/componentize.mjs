// Build one JavaScript handler into a component, after `npm ci`:
//
//   node componentize.mjs SOURCE OUT_WASM [--wit WIT_DIR] [--work WORK_DIR]
//
// SOURCE, a `fetch` event listener (a .js file, or a folder holding
// index.js), becomes OUT_WASM, targeting the world switchyard:handler/handler
// of WIT_DIR. WIT_DIR defaults to the wit/ two folders above this file, and
// WORK_DIR, where the rewritten WIT below goes, to build/js-wit beside that wit/. Two places run it, each with its own copy of
// this file, package.json and package-lock.json:
//
//   - the repository's handlers/js/build.sh, as `node componentize.mjs NAME
//     OUT_WASM` for handlers/js/NAME/index.js, with the root wit/ and build/js-wit/;
//   - the build.sh of a project's JavaScript handler (`switchyard new handler
//     js NAME` copies these three files into handlers/NAME/), for its own
//     index.js, with the project's wit/ and build/NAME/.
//
// Why there is a WIT rewrite here: componentize-js splices the JS bindings
// into a prebuilt StarlingMonkey engine, and that engine implements
// wasi:http/incoming-handler at the one wasi 0.2.x version it was compiled
// against (0.2.10 for componentize-js 0.23.0). Given wit/ at a newer version
// (0.2.12, from wasmtime-wasi-http 48) the build fails with "failed to find
// export of interface `wasi:http/incoming-handler@0.2.12`". So when the
// versions differ, WIT_DIR is presented at the engine's version in
// WORK_DIR/wasi-0.2.N/ (regenerated on every build, never committed):
//
//   - every `wasi:...@0.2.N` reference with N above the engine's becomes the
//     engine's version;
//   - an item marked `@since(version = 0.2.N)` with N above the engine's did not
//     exist at that version, so it is hidden behind a never-enabled
//     `@unstable` gate (wit-parser refuses a @since newer than its package);
//   - the package folders under deps/ (wasi:keyvalue, wasi:config, which the
//     world.wit's handler-with-state names) are copied along, so that
//     world.wit still resolves; their versions are not wasi 0.2.N and stay.
//
// The host (wasmtime 48, wasi 0.2.12) accepts a guest built for any earlier
// 0.2.x. When a componentize-js release ships an engine at the wit/ version,
// the rewrite switches itself off and WIT_DIR is used as is.
import { componentize } from "@bytecodealliance/componentize-js";
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const WORLD = "switchyard:handler/handler";
const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`componentize.mjs: ${message}`);
  process.exit(1);
}

/** The wasi 0.2 patch version in `text` for `what`, e.g. 10 for `...@0.2.10`. */
function patchOf(text, what) {
  const match = text.match(/wasi:http\/incoming-handler@0\.2\.(\d+)/) ?? text.match(/^package wasi:http@0\.2\.(\d+);/m);
  if (!match) fail(`could not tell which wasi:http 0.2.x version ${what} uses`);
  return Number(match[1]);
}

/** The wasi 0.2 patch version the componentize-js engine was built against. */
async function enginePatch() {
  const entry = fileURLToPath(import.meta.resolve("@bytecodealliance/componentize-js"));
  const engine = resolve(dirname(entry), "../lib/starlingmonkey_embedding.wasm");
  const bytes = await readFile(engine).catch(() => fail(`engine not found at ${engine}`));
  return patchOf(bytes.toString("latin1"), `the engine ${engine}`);
}

/** Rewrite one WIT file's wasi 0.2.N (N > target) references down to 0.2.target. */
function present(text, target) {
  return text
    .replace(/(wasi:[a-z0-9-]+(?:\/[a-z0-9-]+)?)@0\.2\.(\d+)/g, (all, name, patch) =>
      Number(patch) > target ? `${name}@0.2.${target}` : all,
    )
    .replace(/@since\(version = 0\.2\.(\d+)\)/g, (all, patch) =>
      Number(patch) > target ? `@unstable(feature = wasi-0-2-${patch})` : all,
    );
}

/** The WIT folder to build against: witDir itself, or its presentation at the engine's version in workDir. */
async function witFor(witDir, workDir, engine) {
  const http = join(witDir, "deps/http.wit");
  const rootPatch = patchOf(await readFile(http, "utf8").catch(() => fail(`no WIT at ${http}`)), http);
  if (engine === rootPatch) return witDir;
  if (engine > rootPatch) {
    fail(`the engine targets wasi 0.2.${engine}, newer than ${witDir} (0.2.${rootPatch}); the host would not accept it`);
  }
  const out = join(workDir, `wasi-0.2.${engine}`);
  const tmp = `${out}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  const packages = (await readdir(join(witDir, "deps"), { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => join("deps", entry.name));
  for (const sub of ["", "deps", ...packages]) {
    await mkdir(join(tmp, sub), { recursive: true });
    for (const entry of await readdir(join(witDir, sub), { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".wit")) continue;
      const text = present(await readFile(join(witDir, sub, entry.name), "utf8"), engine);
      const left = text.match(/(?:@|version = )0\.2\.(\d+)/g)?.filter((v) => Number(v.split(".")[2]) > engine);
      if (left?.length) fail(`${sub}/${entry.name} still mentions ${left[0]} after the rewrite`);
      await writeFile(join(tmp, sub, entry.name), text);
    }
  }
  await rm(out, { recursive: true, force: true });
  await rename(tmp, out);
  console.error(`  ${relative(process.cwd(), witDir) || "."} is wasi 0.2.${rootPatch}, the engine 0.2.${engine}: using ${relative(process.cwd(), out)}`);
  return out;
}

/**
 * Fail with what componentize-js says went wrong. On a script that does not
 * parse it says only how many errors its parser (oxc-parser, a dependency of
 * componentize-js) found, so the same parser is asked again for them.
 */
async function explain(err) {
  if (/^failed to parse JS source/.test(err.message)) {
    const { default: oxc } = await import("oxc-parser");
    const { errors } = await oxc.parseAsync(sourcePath, await readFile(sourcePath, "utf8"));
    for (const error of errors) console.error(error.codeframe ?? error.message);
  }
  fail(`componentize-js failed for ${name}: ${err.message}`);
}

const usage = "usage: node componentize.mjs SOURCE OUT_WASM [--wit WIT_DIR] [--work WORK_DIR]";
let args;
try {
  args = parseArgs({ allowPositionals: true, options: { wit: { type: "string" }, work: { type: "string" } } });
} catch (err) {
  fail(`${err.message}\n${usage}`);
}
if (args.positionals.length !== 2) fail(usage);
const [source, outPath] = args.positionals.map((path) => resolve(path));
const sourcePath = (await stat(source).catch(() => null))?.isDirectory() ? join(source, "index.js") : source;
const witDir = resolve(args.values.wit ?? join(here, "../../wit"));
const workDir = resolve(args.values.work ?? join(witDir, "../build/js-wit"));
const name = relative(process.cwd(), sourcePath);
await readFile(sourcePath).catch(() => fail(`no JavaScript source at ${sourcePath}`));

const witPath = await witFor(witDir, workDir, await enginePatch());
const started = Date.now();
const { component } = await componentize({ sourcePath, witPath, worldName: WORLD }).catch(explain);
const magic = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
if (!Buffer.from(component.subarray(0, 8)).equals(magic)) fail(`componentize-js did not produce a component for '${name}'`);
await writeFile(`${outPath}.tmp`, component);
await rename(`${outPath}.tmp`, outPath);
console.error(`  ${basename(outPath)}: ${component.length} bytes in ${((Date.now() - started) / 1000).toFixed(1)}s`);
