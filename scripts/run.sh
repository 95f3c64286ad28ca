#!/usr/bin/env bash
# The one entry point behind the npm scripts: set the checkout up, then run the command on the
# project's own Node (>= 24, see setup.sh), whatever Node runs npm itself. The npm scripts
# `exec` this script and it `exec`s node for every long-running command, so a TERM to npm
# reaches the service (npm forwards it to its child, which is then node itself).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cmd=${1:?usage: run.sh start|subscribe|test|lint|bench|chaos|compose}
shift

# The steps that cannot exec (the set-up, the test tiers) run as a child that gets the TERM
# or INT this script gets; after one, nothing further starts and the child's code is ours.
stopped=0
forward() {
  "$@" &
  local child=$!
  trap 'stopped=1; kill -TERM "$child" 2>/dev/null || true' TERM
  trap 'stopped=1; kill -INT "$child" 2>/dev/null || true' INT
  local status=0
  wait "$child" || status=$?
  # A trapped signal ends the wait early: wait again for the child's own exit.
  while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
  trap - TERM INT
  if [ "$stopped" = 1 ]; then exit "$status"; fi
  return "$status"
}

forward bash scripts/setup.sh
node="$root/.tooling/bin/node"
export PATH="$root/.tooling/bin:$PATH"
# The bench installs what its cases drive (supervisord for the restart case), as npm test does.
if [ "$cmd" = bench ]; then forward bash scripts/test-prereqs.sh; fi
case "$cmd" in
  # The main thread's young-generation cap; the service reads the same MAX_SEMI_SPACE_MB for
  # its worker threads (docs/performance.md). 0: V8's default.
  start) exec "$node" --max-semi-space-size="${MAX_SEMI_SPACE_MB:-2}" dist/src/app/main.js "$@" ;;
  subscribe) exec "$node" dist/src/app/subscribe.js "$@" ;;
  compose) exec "$node" scripts/render-compose.mjs "$@" ;;
  test)
    bash scripts/test-prereqs.sh
    run_tests() { # concurrency, files...
      local concurrency=$1
      shift
      forward "$node" --test --test-reporter=spec --test-concurrency="$concurrency" \
        --test-timeout="${TEST_TIMEOUT_MS:-120000}" "$@"
    }
    if [ $# -gt 0 ]; then
      run_tests 1 "$@"
      exit
    fi
    # The tiers, in this order; TEST_TIERS runs some of them (the fork test runs the core's
    # suite in its copy of the project with TEST_TIERS=parallel).
    tiers=" ${TEST_TIERS:-parallel fork image serial} "
    tier() { [[ $tiers == *" $1 "* ]]; }
    # The container tier (test/image: the image built by scripts/image.sh, run with podman) runs
    # after the parallel tier, and its image is built before either, so neither its build nor
    # its containers slow a timing-sensitive test; it finds the image cached and reports a
    # failed build itself.
    if tier image; then IMAGE='' bash scripts/image.sh 2>&1 | grep '^image:' >&2 || true; fi
    # The fork tier (test/fork: the README's minimal app on a copy of the core) runs alone after
    # the parallel tier, its own core suite at the same concurrency. Tests that disturb shared
    # services (stopping the broker) run alone, after the rest.
    # The sample app's own tests (test/app) run in the parallel tier while test/app exists: a
    # fork deletes it with src/app, and a dist/test/app left by an older build is not run.
    without_app=()
    if [ ! -d test/app ]; then without_app=(-not -path 'dist/test/app/*'); fi
    mapfile -t parallel < <(find dist/test -name '*.test.js' -not -path 'dist/test/serial/*' \
      -not -path 'dist/test/image/*' -not -path 'dist/test/fork/*' "${without_app[@]}" | sort)
    mapfile -t fork < <(find dist/test/fork -name '*.test.js' 2>/dev/null | sort)
    mapfile -t image < <(find dist/test/image -name '*.test.js' 2>/dev/null | sort)
    mapfile -t serial < <(find dist/test/serial -name '*.test.js' 2>/dev/null | sort)
    status=0
    if tier parallel && [ ${#parallel[@]} -gt 0 ]; then
      run_tests "${TEST_CONCURRENCY:-2}" "${parallel[@]}" || status=$?
    fi
    if tier fork && [ ${#fork[@]} -gt 0 ]; then run_tests 1 "${fork[@]}" || status=$?; fi
    if tier image && [ ${#image[@]} -gt 0 ]; then
      run_tests "${TEST_CONCURRENCY:-2}" "${image[@]}" || status=$?
    fi
    if tier serial && [ ${#serial[@]} -gt 0 ]; then run_tests 1 "${serial[@]}" || status=$?; fi
    exit $status
    ;;
  lint)
    "$node" node_modules/eslint/bin/eslint.js --max-warnings=0 src test bench
    "$node" node_modules/prettier/bin/prettier.cjs --check src test bench
    "$node" scripts/check-imports.mjs
    ;;
  bench) exec "$node" dist/bench/run.js "$@" ;;
  chaos) exec "$node" dist/bench/chaos.js "$@" ;;
  *) echo "run.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
