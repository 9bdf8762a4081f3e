#!/usr/bin/env bash
# The README's first command in a clone of this repo with nothing beside it: install, then
# `npx w3a up`, run until the devnet says it is ready and stopped with Ctrl-C (it must stop
# cleanly). Prints the clone's path last, for .ci/run to run the tests there.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
up_pid=""
stop_up() { if [ -n "$up_pid" ]; then kill -INT -- "-$up_pid" 2>/dev/null || true; fi; }
trap stop_up EXIT
git clone --quiet "$src" "$work/w3a"
cd "$work/w3a"

install_and_up="$(awk '/^```sh/{f=1;next} /^```/{if(f)exit} f' README.md | sed -E 's/[[:space:]]+#.*$//' | sed -n 1p)"
echo "fresh clone in $work/w3a (nothing beside it)" >&2
echo "\$ $install_and_up" >&2
setsid bash -c "$install_and_up" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 900); do
  if grep -q '^W3A devnet ready' "$work/up.log"; then break; fi
  if ! kill -0 "$up_pid" 2>/dev/null; then cat "$work/up.log" >&2; echo "README's first command exited before the devnet was ready" >&2; exit 1; fi
  sleep 1
done
grep -q '^W3A devnet ready' "$work/up.log" || { cat "$work/up.log" >&2; echo "devnet not ready after 15 minutes" >&2; exit 1; }
grep '^W3A devnet ready' "$work/up.log" >&2
kill -INT -- "-$up_pid"
wait "$up_pid" || true
up_pid=""
grep -q 'stopped cleanly' "$work/up.log" || { cat "$work/up.log" >&2; echo "w3a up did not stop cleanly on Ctrl-C" >&2; exit 1; }
echo "$work/w3a"
