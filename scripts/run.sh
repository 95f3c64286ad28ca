#!/usr/bin/env bash
# The one entry point behind the npm scripts: set the checkout up, then run the command on the
# project's own Node (>= 24, see setup.sh), whatever Node runs npm itself.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cmd=${1:?usage: run.sh start|subscribe|test|lint|bench|chaos|compose}
shift
bash scripts/setup.sh
node="$root/.tooling/bin/node"
export PATH="$root/.tooling/bin:$PATH"
case "$cmd" in
  start) exec "$node" dist/src/app/main.js "$@" ;;
  subscribe) exec "$node" dist/src/app/subscribe.js "$@" ;;
  compose) exec "$node" scripts/render-compose.mjs "$@" ;;
  test)
    bash scripts/test-prereqs.sh
    run_tests() { # concurrency, files...
      local concurrency=$1
      shift
      "$node" --test --test-reporter=spec --test-concurrency="$concurrency" \
        --test-timeout="${TEST_TIMEOUT_MS:-120000}" "$@"
    }
    if [ $# -gt 0 ]; then
      run_tests 1 "$@"
      exit
    fi
    # Tests that disturb shared services (stopping the broker) run alone, after the rest.
    mapfile -t parallel < <(find dist/test -name '*.test.js' -not -path 'dist/test/serial/*' | sort)
    mapfile -t serial < <(find dist/test/serial -name '*.test.js' 2>/dev/null | sort)
    status=0
    run_tests "${TEST_CONCURRENCY:-2}" "${parallel[@]}" || status=$?
    if [ ${#serial[@]} -gt 0 ]; then
      run_tests 1 "${serial[@]}" || status=$?
    fi
    exit $status
    ;;
  lint)
    "$node" node_modules/eslint/bin/eslint.js --max-warnings=0 src test bench
    "$node" node_modules/prettier/bin/prettier.cjs --check src test bench
    "$node" scripts/check-imports.mjs
    ;;
  bench) # what the cases drive (supervisord for the restart case), as for npm test
    bash scripts/test-prereqs.sh
    exec "$node" dist/bench/run.js "$@" ;;
  chaos) exec "$node" dist/bench/chaos.js "$@" ;;
  *) echo "run.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
