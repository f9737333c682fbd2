#!/usr/bin/env bash
# Builds a Python (componentize-py) or JavaScript (componentize-js) plugin project into a
# component. Shared by plugins/build.sh (`make plugins`) and `batch-host plugin build`, which
# embeds this file.
#
#   componentize.sh manifest PROJECT_DIR
#       prints `LANG NAME ROLE ENTRY` from pyproject.toml ([project] name, [tool.batch-host]
#       role and module) or package.json (name, "batch-host".role, main)
#   componentize.sh build PROJECT_DIR OUT.wasm WIT_DIR SDK_ROOT TOOLS_DIR
#       builds it; SDK_ROOT holds python/ and js/ (the sdk/ folder of a batch-host source tree,
#       or the copy `plugin build` unpacks)
#
# The tools are pinned and installed on first use into TOOLS_DIR from PyPI and the npm registry
# (componentize-py in a virtualenv; componentize-js and the rolldown bundler with npm). A build
# whose inputs (sources, SDK, WIT, tool versions, world) are unchanged since the last one is
# skipped, so an unchanged plugin "rebuilds" at once.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
ROLLDOWN_VERSION=1.3.4

say() { echo "componentize: $*" >&2; }
die() { say "$*"; exit 1; }

manifest() {
    local dir=$1
    if [ -f "$dir/pyproject.toml" ]; then
        command -v python3 >/dev/null || die "python3 is missing; install it (Debian: apt-get install python3 python3-venv)"
        python3 - "$dir/pyproject.toml" <<'PY' || exit 1
import sys, tomllib
path = sys.argv[1]
try:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
except (OSError, tomllib.TOMLDecodeError) as e:
    sys.exit(f"componentize: {path}: {e}")
name = doc.get("project", {}).get("name")
tool = doc.get("tool", {}).get("batch-host", {})
if not name:
    sys.exit(f"componentize: {path}: [project] name is missing")
if "role" not in tool:
    sys.exit(f"componentize: {path}: [tool.batch-host] role is missing (reader, processor, writer, tasklet or decider)")
print("python", name, tool["role"], tool.get("module", "app"))
PY
    elif [ -f "$dir/package.json" ]; then
        command -v node >/dev/null || die "node is missing; install Node.js 20 or later (Debian: apt-get install nodejs npm)"
        node -e '
const path = process.argv[1];
let p;
try { p = JSON.parse(require("fs").readFileSync(path, "utf8")); } catch (e) { console.error(`componentize: ${path}: ${e.message}`); process.exit(1); }
if (!p.name) { console.error(`componentize: ${path}: "name" is missing`); process.exit(1); }
const role = p["batch-host"] && p["batch-host"].role;
if (!role) { console.error(`componentize: ${path}: "batch-host": { "role": ... } is missing (reader, processor, writer, tasklet or decider)`); process.exit(1); }
console.log("js", p.name, role, p.main || "plugin.js");' "$dir/package.json"
    else
        die "no pyproject.toml or package.json in $dir"
    fi
}

# The manifest's fields, checked: the name becomes NAME.wasm beside the manifest, so it is a
# plain name (letters, digits, `-`, `_`, `.`), never a path; the entry point stays inside.
checked_manifest() {
    local lang name world entry
    read -r lang name world entry < <(manifest "$1") || exit 1
    [ -n "${entry:-}" ] || exit 1
    case $world in reader | processor | writer | tasklet | decider | partitioner) ;; *) die "role \`$world\` is not a batch:plugin world (reader, processor, writer, tasklet, decider, partitioner)" ;; esac
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ && $name != *..* ]] ||
        die "the project name \`$name\` is not a plugin name; use up to 64 letters, digits, \`-\`, \`_\` or \`.\`, starting with a letter or digit"
    [[ $entry =~ ^[A-Za-z0-9_./-]+$ && $entry != /* && $entry != *..* ]] ||
        die "the entry point \`$entry\` must be a file or module inside the project"
    echo "$lang $name $world $entry"
}

case ${1:-} in
manifest) checked_manifest "$2"; exit 0 ;;
build) ;;
*) die "usage: componentize.sh manifest DIR | build DIR OUT.wasm WIT_DIR SDK_ROOT TOOLS_DIR" ;;
esac
project=$2 out=$3 wit=$4 sdk_root=$5 tools=$6
manifest_line=$(checked_manifest "$project") || exit 1
read -r lang name world entry <<< "$manifest_line"
sdk=$sdk_root/$lang

mkdir -p "$tools" "$(dirname "$out")"
abs() { (cd "$1" && pwd); }
tools=$(abs "$tools") project=$(abs "$project") wit=$(abs "$wit") sdk=$(abs "$sdk")
out=$(abs "$(dirname "$out")")/$(basename "$out")

case $lang in
python)
    tool=$tools/python/bin/componentize-py
    if [ ! -x "$tool" ] || [ "$("$tool" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
        command -v python3 >/dev/null || die "python3 is missing; install it (Debian: apt-get install python3 python3-venv) and build again"
        say "installing componentize-py $COMPONENTIZE_PY_VERSION from PyPI into $tools/python (once)"
        python3 -m venv --clear "$tools/python" >&2 ||
            die "python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv) and build again"
        "$tools/python/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" >&2 ||
            die "pip could not install componentize-py $COMPONENTIZE_PY_VERSION (is PyPI reachable?)"
    fi
    version="componentize-py $COMPONENTIZE_PY_VERSION"
    sources=$(cd "$project" && find . -name '*.py' -not -path './build/*' -not -path '*/__pycache__/*' | LC_ALL=C sort)
    [ -f "$project/$entry.py" ] || die "no $entry.py in $project (the module named by [tool.batch-host] module in pyproject.toml)"
    ;;
js)
    bin=$tools/js/node_modules/.bin
    if [ ! -x "$bin/componentize-js" ] || [ ! -x "$bin/rolldown" ] ||
        ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$tools/js/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null; then
        command -v npm >/dev/null || die "npm is missing; install Node.js 20 or later (Debian: apt-get install nodejs npm) and build again"
        say "installing componentize-js $COMPONENTIZE_JS_VERSION and rolldown $ROLLDOWN_VERSION from the npm registry into $tools/js (once)"
        mkdir -p "$tools/js"
        [ -f "$tools/js/package.json" ] || echo '{ "private": true }' > "$tools/js/package.json"
        npm install --prefix "$tools/js" --no-audit --no-fund --loglevel=error \
            "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" "rolldown@$ROLLDOWN_VERSION" >&2 ||
            die "npm could not install componentize-js $COMPONENTIZE_JS_VERSION (is the npm registry reachable?)"
    fi
    version="componentize-js $COMPONENTIZE_JS_VERSION rolldown $ROLLDOWN_VERSION"
    sources=$(cd "$project" && find . \( -name '*.js' -o -name '*.mjs' -o -name package.json \) \
        -not -path './node_modules/*' -not -path './build/*' | LC_ALL=C sort)
    [ -f "$project/$entry" ] || die "no $entry in $project (the file named by \"main\" in package.json)"
    ;;
esac

# The digest of everything the component is made from.
inputs=$( {
    echo "$lang $world $entry $version"
    (cd "$project" && printf '%s\n' "$sources" | while IFS= read -r f; do [ -n "$f" ] && sha256sum "$f"; done)
    (cd "$sdk" && find . -type f \( -name '*.py' -o -name '*.js' \) -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs sha256sum)
    (cd "$wit" && find . -name '*.wit' | LC_ALL=C sort | xargs sha256sum)
} | sha256sum | cut -d' ' -f1)
stamp=$out.inputs
if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
    say "$(basename "$out") is up to date"
    exit 0
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
case $lang in
python)
    "$tool" -d "$wit" -w "$world" componentize "$entry" -p "$project" -p "$sdk" -o "$build/out.wasm" >&2
    ;;
js)
    cat > "$build/rolldown.config.mjs" <<CONFIG
export default {
  input: $(node -e 'console.log(JSON.stringify(process.argv[1]))' "$project/$entry"),
  external: [/^batch:/, /^wasi:/],
  resolve: { alias: { 'batch-sdk': $(node -e 'console.log(JSON.stringify(process.argv[1]))' "$sdk/src/index.js") } },
  output: { file: $(node -e 'console.log(JSON.stringify(process.argv[1]))' "$build/bundle.js"), format: 'esm' },
  logLevel: 'warn',
};
CONFIG
    "$bin/rolldown" -c "$build/rolldown.config.mjs" >&2
    # componentize-js maps the current directory into the engine, so it runs beside the bundle.
    (cd "$build" && "$bin/componentize-js" bundle.js --wit "$wit" --world-name "$world" --disable http fetch-event -o out.wasm >&2)
    ;;
esac
mkdir -p "$(dirname "$out")"
mv "$build/out.wasm" "$out"
echo "$inputs" > "$stamp"
say "built $(basename "$out") ($lang, $world world, $(( $(stat -c %s "$out") / 1024 )) KiB)"
