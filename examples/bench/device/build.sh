#!/bin/bash
# Cross-builds what run.sh runs on the device machine into .dev/ (git-ignored), the folder
# the device tool carries:
#
#   examples/bench/device/build.sh [BASE]   then   run(command: "bash examples/bench/device/run.sh", carry: [".dev"])
#
# With BASE (a git revision), the kernel and tensor test binaries and the bench tool are also
# built from BASE, as kernels-base.test, tensor-base.test and bench-base, and run.sh runs them
# beside the working tree's in the same run (the kernel benchmarks only where the kernels
# differ): a before/after on the same noisy machine. Builds are -trimpath, so that the same
# source gives the same binary.
#
# .dev/hf_bench.py is the shared tools' transformers timer (../shared/tools/hf_bench.py).
set -e
cd "$(dirname "$0")/../../.."
B=$(mktemp -d)
for p in tensor/internal/kernels tensor blip internal/hashmodel; do
  GOOS=linux GOARCH=amd64 go test -c -trimpath -ldflags="-s -w" -o $B/$(basename $p).test ./$p
done
if [ -n "${1:-}" ]; then
  W=$(mktemp -d); git worktree add -q --detach $W "$1"
  for p in tensor/internal/kernels tensor; do
    (cd $W && GOOS=linux GOARCH=amd64 go test -c -trimpath -ldflags="-s -w" -o $B/$(basename $p)-base.test ./$p)
  done
  (cd $W && GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o $B/bench-base ./examples/bench)
  git worktree remove --force $W
fi
GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o $B/bench ./examples/bench
GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o $B/hashmodel ./examples/hashmodel
# The other AMX families as the bfloat16 kernel (tags amxtile: amx-bf16, a call per 32 rows;
# amxcols: amx-bf16-cols; see kernels.amxColumns), for run.sh's columns section to run the
# golden cases and whole captions on beside the default, amx-bf16-col.
for x in tile cols; do
  GOOS=linux GOARCH=amd64 go test -c -tags amx$x -trimpath -ldflags="-s -w" -o $B/blip-$x.test ./blip
  GOOS=linux GOARCH=amd64 go build -tags amx$x -trimpath -ldflags="-s -w" -o $B/bench-$x ./examples/bench
done
# A tall A with aliasing rows read in place on every CPU (tag inplacea: Kernel.InPlaceA), for
# run.sh's model section to time whole float32 runs beside today's choice.
GOOS=linux GOARCH=amd64 go build -tags inplacea -trimpath -ldflags="-s -w" -o $B/bench-inplace ./examples/bench
mkdir -p .dev
cp ../shared/tools/hf_bench.py .dev/ 2>/dev/null || echo "no ../shared/tools/hf_bench.py: copy it into .dev/ for the transformers rows"
tar -C $B -cJf .dev/bins.tar.xz .
rm -rf $B
ls -la .dev
