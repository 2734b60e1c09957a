#!/bin/bash
# One run on the device machine (Intel Xeon with AMX, torch 2.11, transformers 5.17, no Go):
# the kernels' and the model's checks with the kernels that CPU picks, the speed benchmarks on two
# pinned cores and on 16 threads, blipgo and transformers side by side, full-size accuracy.
# About four minutes; build.sh first. What it prints goes to $OUT/log.txt as well, and CPU
# profiles of the 2-core runs to $OUT.
set -u
R=$PWD; D=$R/.dev; O=${OUT:-/tmp/out}; mkdir -p $O
B=/tmp/bins; mkdir -p $B; tar -C $B -xJf $D/bins.tar.xz; cp $D/hf_bench.py $B/; D=$B
exec > >(tee $O/log.txt) 2>&1
T0=$(date +%s); step() { echo; echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
step env
lscpu | grep -E 'Model name|^CPU\(s\)'
PIN=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
TS="taskset -c $PIN"; K=$R/tensor/internal/kernels; echo "pin $PIN"
step correctness
(cd $K && timeout 60 $D/kernels.test 2>&1 | tail -1)
(cd $R/tensor && timeout 60 $D/tensor.test 2>&1 | tail -1)
(cd $R/blip && timeout 90 $D/blip.test -test.run 'BFloat16|Golden' -test.v 2>&1 | grep -E '^(--- FAIL|ok|FAIL|PASS)|identical|kernel' | tail -8)
step kernel benchmarks, 2 pinned cores
(cd $K && $TS timeout 60 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA|Micro$|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx|Prefetch$|AMXRounding' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
(cd $R/tensor && $TS timeout 120 $D/tensor.test -test.run '^$' -test.bench 'MatMul$|MatMulKernels|MatMulDepth|MatMulBF16/.*/bfloat16/|MatMulAMXBlocks|Attention' -test.benchtime 6x 2>&1 | grep -E 'Bench')
if [ -x $D/kernels-base.test ] && ! cmp -s $D/kernels.test $D/kernels-base.test; then
  step the same AMX benchmarks built from the base revision, then the working tree again
  (cd $K && $TS timeout 60 $D/kernels-base.test -test.run '^$' -test.bench 'PeakFMA|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
  (cd $R/tensor && $TS timeout 60 $D/tensor-base.test -test.run '^$' -test.bench 'MatMulAMXBlocks' -test.benchtime 6x 2>&1 | grep -E 'Bench')
  (cd $K && $TS timeout 60 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
fi
step hash model
$D/hashmodel -out /tmp/hash
IMG=$R/testdata/golden/images/chelsea.png
step blipgo and transformers, 2 pinned cores
# CPU profiles (symbolised: read them here with go tool pprof -top FILE) come back in $OUT.
for p in float32 bfloat16; do $TS timeout 90 $D/bench -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 2 -precision $p -cpuprofile $O/cpu-2cores-$p.pprof; done
$TS timeout 120 python3 $D/hf_bench.py 2
if [ -x $D/bench-base ]; then
  step the base revision\'s bench, 2 pinned cores, then 16 threads
  for p in float32 bfloat16; do $TS timeout 90 $D/bench-base -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 2 -precision $p; done
  for p in float32 bfloat16; do timeout 60 $D/bench-base -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 16 -precision $p; done
fi
step blipgo and transformers, 16 threads
for p in float32 bfloat16; do timeout 60 $D/bench -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 16 -precision $p -cpuprofile $O/cpu-16threads-$p.pprof; done
timeout 60 python3 $D/hf_bench.py 16
step the pool\'s fork and join by threads
(cd $R/tensor && timeout 60 $D/tensor.test -test.run '^$' -test.bench 'PoolFor' -test.cpu 2,4,8,16 -test.count 2 2>&1 | grep -E 'Bench')
if [ -x $D/tensor-base.test ] && ! cmp -s $D/tensor.test $D/tensor-base.test; then
  echo "base revision:"
  (cd $R/tensor && timeout 30 $D/tensor-base.test -test.run '^$' -test.bench 'PoolFor' -test.cpu 2,16 -test.count 2 2>&1 | grep -E 'Bench')
fi
step float32 by threads: 4 and 8 \(decode steps slowed from 4 threads to 16 in the third session\'s run\)
for t in 4 8; do timeout 40 $D/bench -model /tmp/hash -image $IMG -reps 2 -tokens 19 -threads $t -precision float32; done
step full-size accuracy
(cd $R/internal/hashmodel && BLIPGO_FULLSIZE=1 BLIPGO_HASHMODEL=/tmp/hash timeout 60 $D/hashmodel.test -test.run TestFullSize -test.v 2>&1 | grep -E 'kernel|diff|ids|---|^(ok|FAIL|PASS)')
step done
