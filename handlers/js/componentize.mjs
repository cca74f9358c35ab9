// Build one JavaScript handler into a component: run by build.sh as
//
//   node componentize.mjs NAME OUT_WASM
//
// from handlers/js, after `npm ci`. NAME/index.js becomes OUT_WASM, targeting
// the world switchyard:handler/handler of the root wit/.
//
// Why there is a WIT rewrite here: componentize-js splices the JS bindings
// into a prebuilt StarlingMonkey engine, and that engine implements
// wasi:http/incoming-handler at the one wasi 0.2.x version it was compiled
// against (0.2.10 for componentize-js 0.23.0). Given wit/ at a newer version
// (0.2.12, from wasmtime-wasi-http 48) the build fails with "failed to find
// export of interface `wasi:http/incoming-handler@0.2.12`". So when the
// versions differ, the root wit/ is presented at the engine's version in
// build/js-wit/ (git-ignored, regenerated on every build, never committed):
//
//   - every `wasi:...@0.2.N` reference with N above the engine's becomes the
//     engine's version;
//   - an item marked `@since(version = 0.2.N)` with N above the engine's did not
//     exist at that version, so it is hidden behind a never-enabled
//     `@unstable` gate (wit-parser refuses a @since newer than its package);
//   - the package folders under deps/ (wasi:keyvalue, wasi:config, which the
//     root world.wit's handler-with-state names) are copied along, so that
//     world.wit still resolves; their versions are not wasi 0.2.N and stay.
//
// The host (wasmtime 48, wasi 0.2.12) accepts a guest built for any earlier
// 0.2.x. When a componentize-js release ships an engine at the wit/ version,
// the rewrite switches itself off and ../../wit is used as is.
import { componentize } from "@bytecodealliance/componentize-js";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const WORLD = "switchyard:handler/handler";
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const witDir = join(root, "wit");

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

/** The WIT folder to build against: wit/ itself, or its presentation at the engine's version. */
async function witFor(engine) {
  const rootPatch = patchOf(await readFile(join(witDir, "deps/http.wit"), "utf8"), "wit/deps/http.wit");
  if (engine === rootPatch) return witDir;
  if (engine > rootPatch) {
    fail(`the engine targets wasi 0.2.${engine}, newer than wit/ (0.2.${rootPatch}); the host would not accept it`);
  }
  const out = join(root, "build/js-wit", `wasi-0.2.${engine}`);
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
  console.error(`  wit/ is wasi 0.2.${rootPatch}, the engine 0.2.${engine}: using ${relative(here, out)}`);
  return out;
}

const [name, outPath] = process.argv.slice(2);
if (!name || !outPath) fail("usage: node componentize.mjs NAME OUT_WASM");
const sourcePath = join(here, name, "index.js");
await readFile(sourcePath).catch(() => fail(`no JavaScript handler named '${name}' (expected ${sourcePath})`));

const witPath = await witFor(await enginePatch());
const started = Date.now();
const { component } = await componentize({ sourcePath, witPath, worldName: WORLD });
const magic = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
if (!Buffer.from(component.subarray(0, 8)).equals(magic)) fail(`componentize-js did not produce a component for '${name}'`);
await writeFile(`${outPath}.tmp`, component);
await rename(`${outPath}.tmp`, outPath);
console.error(`  ${name}: ${component.length} bytes in ${((Date.now() - started) / 1000).toFixed(1)}s`);
