#!/usr/bin/env bash
# fuzz.sh: runs every fuzz target of the repository, one after another.
#
#   scripts/fuzz.sh 5m        # each target for five minutes
#   scripts/fuzz.sh 20000x    # each target for 20,000 inputs: what CI runs
#   scripts/fuzz.sh 1m ./pkg/verifier   # the targets of some packages
#
# The targets are the Fuzz* functions of the packages' tests; their seed
# corpora are the f.Add calls and the files under each package's
# testdata/fuzz/<target>/, which plain `go test` also runs. An input that
# fails is written there by the fuzzer: commit it with the fix, so that it
# stays a test.
#
# A duration can end a target with a bare "context deadline exceeded" and
# no failing input on a loaded machine: a race in Go's fuzz coordinator
# (go.dev/issue/75804, fixed in Go 1.27). A count of inputs has no
# deadline, which is why CI gives one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

budget=${1:?usage: scripts/fuzz.sh DURATION|COUNTx [PACKAGE...]}
shift
if [[ $# -eq 0 ]]; then
	mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
else
	pkgs=("$@")
fi
failed=0
for pkg in "${pkgs[@]}"; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo "fuzz: $pkg $target ($budget)"
		if ! go test -run '^$' -fuzz "^$target\$" -fuzztime "$budget" -parallel 1 "$pkg" >"${TMPDIR:-/tmp}/fuzz.$$.log" 2>&1; then
			tail -n 30 "${TMPDIR:-/tmp}/fuzz.$$.log"
			failed=1
		else
			grep -E '^fuzz: elapsed' "${TMPDIR:-/tmp}/fuzz.$$.log" | tail -n 1
		fi
	done
done
rm -f "${TMPDIR:-/tmp}/fuzz.$$.log"
exit $failed
