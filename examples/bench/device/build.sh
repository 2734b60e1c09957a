#!/bin/bash
# Cross-builds what run.sh runs on the device machine into .dev/ (git-ignored), the folder
# the device tool carries:
#
#   examples/bench/device/build.sh   then   run(command: "bash examples/bench/device/run.sh", carry: [".dev"])
#
# .dev/hf_bench.py is the shared tools' transformers timer (../shared/tools/hf_bench.py).
set -e
cd "$(dirname "$0")/../../.."
B=$(mktemp -d)
for p in tensor/internal/kernels tensor blip internal/hashmodel; do
  GOOS=linux GOARCH=amd64 go test -c -ldflags="-s -w" -o $B/$(basename $p).test ./$p
done
GOOS=linux GOARCH=amd64 go build -ldflags="-s -w" -o $B/bench ./examples/bench
GOOS=linux GOARCH=amd64 go build -ldflags="-s -w" -o $B/hashmodel ./examples/hashmodel
mkdir -p .dev
cp ../shared/tools/hf_bench.py .dev/ 2>/dev/null || echo "no ../shared/tools/hf_bench.py: copy it into .dev/ for the transformers rows"
tar -C $B -cJf .dev/bins.tar.xz .
rm -rf $B
ls -la .dev
