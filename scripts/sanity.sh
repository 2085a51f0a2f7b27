#!/usr/bin/env bash
# ansible-test sanity from a temporary ansible_collections/disposable/disco tree (ansible-test needs that path).
# ansible-test bootstraps pip in its venvs from a script it downloads; with no access to that host we install an
# offline stand-in (scripts/get_pip_offline.py) at the cache path it looks in first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"

# ansible-test asks for get_pip_<its pinned pip version, dots as underscores>.py: put the stand-in there.
pip_version=$(sed -nE "s/.*pip='([0-9.]+)'.*/\1/p" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)
[ -n "$pip_version" ] || { echo "sanity: cannot find ansible-test's pip version" >&2; exit 1; }
cp "$repo/scripts/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"

if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "sanity: installing shellcheck" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
fi

work=$(mktemp -d /tmp/disco-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/disposable/disco
mkdir -p "$dest"
# The collection as git would ship it (tracked and new files, minus ignored ones).
cd "$repo"
while IFS= read -r -d '' file; do
  if [ -e "$file" ] || [ -L "$file" ]; then cp --parents -P "$file" "$dest"/; fi
done < <(git ls-files -co --exclude-standard -z)
# Dependencies next to it, so imports of amazon.aws module_utils resolve.
for dep in amazon/aws community/docker community/library_inventory_filtering_v1; do
  mkdir -p "$work/ansible_collections/$(dirname $dep)"
  ln -s "$(readlink -f "$repo/.collections/ansible_collections/$dep")" "$work/ansible_collections/$dep"
done
cd "$dest"
git init -q && git add -A >/dev/null 2>&1
exec "$venv/bin/ansible-test" sanity --python 3.11 --requirements --color no "$@"
