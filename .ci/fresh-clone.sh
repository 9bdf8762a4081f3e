#!/usr/bin/env bash
# The README's promise, kept: in a clone of this repo with nothing beside it, its first code
# block's two commands work. The first (install, then `npx w3a up`) runs until the devnet says
# it is ready and is then stopped with Ctrl-C; the second (the tests) must pass.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -INT -- "-$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
git clone --quiet "$src" "$work/w3a"
cd "$work/w3a"

block="$(awk '/^```sh/{f=1;next} /^```/{if(f)exit} f' README.md | sed -E 's/[[:space:]]+#.*$//')"
install_and_up="$(sed -n 1p <<<"$block")"
tests="$(sed -n 2p <<<"$block")"
echo "fresh clone in $work/w3a (nothing beside it)"

echo "\$ $install_and_up"
setsid bash -c "$install_and_up" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 900); do
  if grep -q '^W3A devnet ready' "$work/up.log"; then break; fi
  if ! kill -0 "$up_pid" 2>/dev/null; then cat "$work/up.log"; echo "README's first command exited before the devnet was ready" >&2; exit 1; fi
  sleep 1
done
grep -q '^W3A devnet ready' "$work/up.log" || { cat "$work/up.log"; echo "devnet not ready after 15 minutes" >&2; exit 1; }
grep '^W3A devnet ready' "$work/up.log"
kill -INT -- "-$up_pid"
wait "$up_pid" || true
up_pid=""
grep -q 'stopped cleanly' "$work/up.log" || { cat "$work/up.log"; echo "w3a up did not stop cleanly on Ctrl-C" >&2; exit 1; }

echo "\$ $tests"
bash -c "$tests"
