#!/usr/bin/env bash
# Rebuild the console's vendored browser libraries from the versions pinned in
# scripts/console-vendor/ and copy them into the tree:
#
#   platform/shipyard/console/static/vendor/codemirror.js   CodeMirror 6 bundle (esbuild)
#   platform/shipyard/console/static/vendor/uplot.js, .css  uPlot's own ESM build and CSS
#   platform/shipyard/console/static/vendor/licenses/*.txt  licence of everything shipped
#   platform/shipyard/console/static/vendor/VENDORED.md     what is vendored, and how
#   tests/fixtures/vendor/axe.min.js                        axe-core, browser tests only
#
# Usage: scripts/refresh-console-vendor.sh            npm ci from package-lock.json
#        scripts/refresh-console-vendor.sh --relock   npm install from package.json and
#                                                     write package-lock.json back (after
#                                                     changing a version there)
#
# Needs node, npm and the npm registry. Installing or testing Shipyard never does: the
# outputs are committed. Same lock file in, same bytes out.
set -euo pipefail

usage() { sed -n '11,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

relock=0
case "${1-}" in
  "") ;;
  --relock) relock=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

for tool in node npm gzip; do
  command -v "$tool" >/dev/null || { echo "refresh-console-vendor: $tool not found" >&2; exit 1; }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$repo/scripts/console-vendor
vendor=$repo/platform/shipyard/console/static/vendor
fixtures=$repo/tests/fixtures/vendor

work=$(mktemp -d "${TMPDIR:-/tmp}/shipyard-vendor.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src/package.json" "$src/codemirror-entry.js" "$work/"
cd "$work"

# --ignore-scripts: nothing from the registry runs at install time (esbuild finds its
# platform binary, an optional dependency, without its postinstall step).
npm_flags=(--ignore-scripts --no-audit --no-fund --loglevel=error)
if ((relock)); then
  npm install "${npm_flags[@]}"
  cp package-lock.json "$src/package-lock.json"
else
  [[ -f $src/package-lock.json ]] || {
    echo "refresh-console-vendor: no $src/package-lock.json; run with --relock" >&2
    exit 1
  }
  cp "$src/package-lock.json" .
  npm ci "${npm_flags[@]}"
fi

mkdir -p out/vendor/licenses out/fixtures
node_modules/.bin/esbuild codemirror-entry.js \
  --bundle --format=esm --minify --legal-comments=eof --log-level=warning \
  --banner:js="/*! Shipyard console editor: CodeMirror 6 and its dependencies (MIT), bundled from scripts/console-vendor/codemirror-entry.js by scripts/refresh-console-vendor.sh. Licences: licenses/, versions: VENDORED.md */" \
  --metafile=meta.json --outfile=out/vendor/codemirror.js

cp node_modules/uplot/dist/uPlot.esm.js out/vendor/uplot.js
cp node_modules/uplot/dist/uPlot.min.css out/vendor/uplot.css
grep -q "Leon Sorokin" out/vendor/uplot.js || {
  echo "refresh-console-vendor: uPlot.esm.js lost its licence header" >&2
  exit 1
}
cp node_modules/axe-core/axe.min.js out/fixtures/axe.min.js
{
  cat node_modules/axe-core/LICENSE
  printf '\n\n'
  cat node_modules/axe-core/LICENSE-3RD-PARTY.txt
} >out/fixtures/axe-core-LICENSE.txt

# Licence files and VENDORED.md, from what esbuild actually bundled (meta.json).
cat >collect.cjs <<'JS'
const fs = require("fs");
const path = require("path");

const ALLOWED = new Set(["MIT"]); // bundled into the shipped console; widen deliberately
const pkg = (name) => JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8"));
const licenceText = (name) => {
  const dir = `node_modules/${name}`;
  const file = fs.readdirSync(dir).sort().find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f));
  if (!file) throw new Error(`${name}: no LICENSE file`);
  return fs.readFileSync(path.join(dir, file), "utf8").trim() + "\n";
};
const groupOf = (name) =>
  name === "codemirror" || name.startsWith("@codemirror/") ? "codemirror"
  : name.startsWith("@lezer/") ? "lezer"
  : name.replace(/^@[^/]+\//, "");

// Packages with code in the output; tree-shaken inputs (bytesInOutput 0) are left out.
const meta = JSON.parse(fs.readFileSync("meta.json", "utf8"));
const names = new Set();
for (const output of Object.values(meta.outputs)) {
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const m = input.match(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (m && bytesInOutput > 0) names.add(m[1]);
  }
}

const bundled = [...names].sort().map((name) => {
  const p = pkg(name);
  if (!ALLOWED.has(p.license)) throw new Error(`${name}: licence ${p.license} not in ${[...ALLOWED]}`);
  return { name, version: p.version, license: p.license, group: groupOf(name) };
});

const groups = new Map();
for (const b of bundled) {
  if (!groups.has(b.group)) groups.set(b.group, []);
  groups.get(b.group).push(b);
}
const labelOf = (b) => `${b.name} ${b.version} (${b.license})`;
for (const [group, members] of groups) {
  const byText = new Map(); // one copy of each distinct licence text
  for (const b of members) {
    const text = licenceText(b.name);
    if (!byText.has(text)) byText.set(text, []);
    byText.get(text).push(labelOf(b));
  }
  let out = `Licences of the npm packages bundled into codemirror.js from ${group}.\n`;
  for (const [text, labels] of byText) out += `\n==== ${labels.join(", ")}\n\n${text}`;
  fs.writeFileSync(`out/vendor/licenses/${group}.txt`, out);
}
fs.writeFileSync("out/vendor/licenses/uplot.txt", licenceText("uplot"));

const uplot = pkg("uplot");
const axe = pkg("axe-core");
const row = (cells) => `| ${cells.join(" | ")} |`;
const lines = [
  "# Vendored browser libraries",
  "",
  "Built files of third-party libraries, committed so that installing, running and testing",
  "Shipyard never needs Node. Generated by `scripts/refresh-console-vendor.sh`; do not edit",
  "this file or the files it lists by hand.",
  "",
  row(["Library", "Version", "Licence (SPDX)", "Source (npm)", "Built into", "Licence text"]),
  row(["---", "---", "---", "---", "---", "---"]),
  ...bundled.map((b) =>
    row([b.name, b.version, b.license, `\`${b.name}\``, "`codemirror.js` (esbuild bundle)",
         `\`licenses/${b.group}.txt\``])),
  row(["uPlot", uplot.version, uplot.license, "`uplot`",
       "`uplot.js` (`dist/uPlot.esm.js`), `uplot.css` (`dist/uPlot.min.css`), as published",
       "`licenses/uplot.txt`"]),
  row(["axe-core (**tests only**)", axe.version, axe.license, "`axe-core`",
       "`tests/fixtures/vendor/axe.min.js`, as published",
       "`tests/fixtures/vendor/axe-core-LICENSE.txt`"]),
  "",
  "`codemirror.js` is `scripts/console-vendor/codemirror-entry.js` bundled with",
  "`esbuild --bundle --format=esm --minify` (esbuild " + pkg("esbuild").version + "). It exports one function,",
  "`createEditor(parent, {doc, language, onChange, readOnly, label})`, documented in the entry file.",
  "`uplot.js` is uPlot's ESM build: `import uPlot from \"/console/assets/vendor/uplot.js\"`.",
  "axe-core is loaded only by the browser tests and is not part of the console.",
  "",
  "## Refreshing",
  "",
  "- `scripts/refresh-console-vendor.sh` reinstalls exactly the versions in",
  "  `scripts/console-vendor/package-lock.json` (`npm ci`, in a temporary folder), rebuilds, and copies",
  "  the files above into place. Same lock file, same bytes.",
  "- To upgrade, change the versions in `scripts/console-vendor/package.json` and run",
  "  `scripts/refresh-console-vendor.sh --relock`, which also writes the lock file back.",
  "  Review the diff, including this file and `licenses/`, before committing.",
  "- The script needs node, npm and the npm registry; fails if a bundled package is not MIT.",
  "",
];
fs.writeFileSync("out/vendor/VENDORED.md", lines.join("\n"));
JS
node collect.cjs

# Into the tree: licenses/ is replaced whole (a dropped dependency loses its file).
mkdir -p "$vendor" "$fixtures"
rm -rf "$vendor/licenses"
cp -R out/vendor/. "$vendor/"
cp -R out/fixtures/. "$fixtures/"

gz() { gzip -9 -n -c "$1" | wc -c; }
printf '%-64s %10s %10s\n' file bytes gzip-9
total=0
for f in "$vendor"/codemirror.js "$vendor"/uplot.js "$vendor"/uplot.css \
  "$fixtures"/axe.min.js; do
  printf '%-64s %10d %10d\n' "${f#"$repo"/}" "$(wc -c <"$f")" "$(gz "$f")"
done
for f in "$vendor"/codemirror.js "$vendor"/uplot.js "$vendor"/uplot.css; do
  total=$((total + $(gz "$f")))
done
printf '%-64s %10s %10d\n' "console total (codemirror.js + uplot.js + uplot.css)" "" "$total"
