#!/bin/bash
# One run on the device machine (16 cores of its host: an Intel Xeon with AMX when it was first lent,
# now a GPU host whose CPU the env section names; torch 2.11, transformers 5.17, no Go):
# the kernels' and the model's checks with the kernels that CPU picks, the speed benchmarks on two
# pinned cores and on 16 threads, blipgo and transformers side by side, full-size accuracy.
# About seven minutes (the columns section two and a half of them); build.sh first. What it
# prints goes to $OUT/log.txt as well, and CPU profiles of the model's runs to $OUT.
#
#   run.sh                 every section below, in order (families instead of columns without AMX)
#   run.sh SECTION...      only those: correctness fuzz kernels columns families model sixteen pool threads accuracy
#
# "fuzz", "families" (on a CPU with AMX) and "sixteen" run alone only when named: the bfloat16
# kernels fuzzed against their twins for 30 s; the float32 kernel families inside MatMul in
# alternation (four rounds, each with the FMA peak), since the host's speed drifts over seconds
# more than the families differ (the 14x32 family's A read in place and copied apart too); the
# 16-thread half of "model". Four fuzz workers: with sixteen the fuzzing engine failed on its
# own deadline on the device machine ("context deadline exceeded", no failing input:
# golang/go#75804, which .ci/run retries); with four it ran 1.08M inputs clean.
set -u
R=$PWD; D=$R/.dev; O=${OUT:-/tmp/out}; mkdir -p $O
B=/tmp/bins; rm -rf $B; mkdir -p $B; tar -C $B -xJf $D/bins.tar.xz; cp $D/hf_bench.py $B/; D=$B
exec > >(tee $O/log.txt) 2>&1
T0=$(date +%s); step() { echo; echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
step env
# The device machine is lent as a GPU host now (an H200 beside 16 CPU cores, run under gVisor
# or Firecracker): its CPU is whatever that host has, so name it and the features that choose
# our kernels, and pin only where pinning works (a sandbox may have no topology in lscpu, or
# refuse sched_setaffinity): else the runs go unpinned, on -threads 2, and say so. The kernel
# release tells the runtimes apart (gVisor reports 4.4.0): gVisor hides AMX from its guests
# (google/gvisor#9896, open), so there the bfloat16 kernel names say "amx refused" or pick
# VDPBF16PS, and only a Firecracker machine can time AMX.
lscpu | grep -E 'Model name|^CPU\(s\)'
echo "kernel $(uname -r)"
FEATURES=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_tile|amx_int8)$' | paste -sd' ')
echo "features: $FEATURES"
echo "nproc $(nproc)"
PIN=$(lscpu -p=CPU,CORE 2>/dev/null | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
[ -n "$PIN" ] || PIN=$(taskset -pc $$ 2>/dev/null | sed -E 's/.*: *//; s/[-,].*//')
if [ -n "$PIN" ] && [[ $PIN != *,* ]]; then PIN="$PIN,$((PIN + 1))"; fi
if [ -n "$PIN" ] && taskset -c "$PIN" true 2>/dev/null; then TS="taskset -c $PIN"; echo "pin $PIN"
else TS=""; echo "not pinned: taskset or the CPU list failed here; two threads unpinned"; fi
K=$R/tensor/internal/kernels
IMG=$R/testdata/golden/images/chelsea.png

correctness() {
  step correctness
  (cd $K && timeout 60 $D/kernels.test 2>&1 | tail -1)
  (cd $R/tensor && timeout 60 $D/tensor.test 2>&1 | tail -1)
  (cd $R/blip && timeout 90 $D/blip.test -test.run 'BFloat16|Golden' -test.v 2>&1 | grep -E '^(--- FAIL|ok|FAIL|PASS)|identical|kernel' | tail -8)
}

fuzz() {
  step the bfloat16 kernels fuzzed against their twins, 30 s
  (cd $K && timeout 90 $D/kernels.test -test.run '^$' -test.fuzz '^FuzzBF16$' -test.fuzztime 30s -test.parallel 4 -test.fuzzcachedir /tmp/fuzzcache 2>&1 | tail -3)
}

kernels() {
  step kernel benchmarks, 2 pinned cores
  # One core's TDPBF16PS peak (tiles loaded once), on its own: the AMX kernels' fraction of it.
  (cd $K && $TS timeout 30 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA|PeakAMX' -test.benchtime 0.2s -test.count 3 2>&1 | grep -E 'Bench')
  (cd $K && $TS timeout 60 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA|Micro$|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx|Prefetch$|AMXRounding' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
  (cd $R/tensor && $TS timeout 120 $D/tensor.test -test.run '^$' -test.bench 'MatMul$|MatMulKernels|MatMulDepth|MatMulBF16/.*/bfloat16/|Attention|LinearGELU|DecodeProducts' -test.benchtime 6x 2>&1 | grep -E 'Bench')
  if [ -x $D/kernels-base.test ] && ! cmp -s $D/kernels.test $D/kernels-base.test; then
    # The products inside MatMul, float32 and AMX, base and working tree in turn, twice, so
    # that a change to the kernels is timed against its base on the same drifting host (the
    # ninth session judged the seventh's prefetch of the next tile's C this way).
    step the same benchmarks built from the base revision, then the working tree again
    (cd $K && $TS timeout 60 $D/kernels-base.test -test.run '^$' -test.bench 'PeakFMA|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
    for t in tensor-base tensor tensor-base tensor; do
      echo "$t:"; (cd $R/tensor && $TS timeout 60 $D/$t.test -test.run '^$' -test.bench 'MatMul$/577|MatMulAMXBlocks/.*/block=512/' -test.benchtime 6x 2>&1 | grep -E 'Bench')
    done
    (cd $K && $TS timeout 60 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA|MicroBF16/amx-bf16/rows=32|MicroBF16Residency/amx' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
  fi
}

# blocks_table reads BenchmarkMatMulAMXBlocks lines and prints, for each shape and blocking,
# each family's GFLOP/s and amx_peak% as the lowest and highest of its rounds.
blocks_table() {
  awk '
  /^BenchmarkMatMulAMXBlocks\// {
    name = $1; sub(/^BenchmarkMatMulAMXBlocks\//, "", name); sub(/-[0-9]+$/, "", name)
    fam = name; sub(/\/.*/, "", fam); cfg = name; sub(/^[^\/]*\//, "", cfg)
    g = ""; p = ""
    for (i = 2; i <= NF; i++) { if ($i == "GFLOP/s") g = $(i-1) + 0; if ($i == "amx_peak%") p = $(i-1) + 0 }
    if (g == "") next
    if (!(cfg in seen)) { seen[cfg] = 1; order[++n] = cfg }
    if (!(fam in fseen)) { fseen[fam] = 1; forder[++nf] = fam }
    k = cfg SUBSEP fam
    if (!(k in lo) || g < lo[k]) lo[k] = g
    if (!(k in hi) || g > hi[k]) hi[k] = g
    if (!(k in plo) || p < plo[k]) plo[k] = p
    if (!(k in phi) || p > phi[k]) phi[k] = p
  }
  END {
    printf "%-54s", "GFLOP/s (amx_peak%), lowest-highest round"
    for (j = 1; j <= nf; j++) printf " | %-22s", forder[j]
    print ""
    for (i = 1; i <= n; i++) {
      printf "%-54s", order[i]
      for (j = 1; j <= nf; j++) {
        k = order[i] SUBSEP forder[j]
        if (k in lo) printf " | %5.0f-%-5.0f (%2.0f-%2.0f%%)", lo[k], hi[k], plo[k], phi[k]
        else printf " | %-22s", "-"
      }
      print ""
    }
  }'
}

columns() {
  step the AMX families \(amx-bf16-col, the default: one call per 224 rows of a panel\; amx-bf16-cols: the same in slices of 128 pairs\; amx-bf16: a call per 32 rows\) inside MatMul, alternating, 2 pinned cores
  # A call's cost besides its products: each family's tallest tile at 16 to 1024 pairs a call,
  # then the products inside MatMul at every depth of pass, three rounds.
  (cd $K && $TS timeout 60 $D/kernels.test -test.run '^$' -test.bench 'PeakAMX|MicroBF16/amx-bf16(-cols?)?/rows=(32|224)/' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
  for round in 1 2 3; do
    for f in amx-bf16 amx-bf16-col amx-bf16-cols; do
      (cd $R/tensor && $TS timeout 60 $D/tensor.test -test.run '^$' -test.bench "MatMulAMXBlocks/^$f\$/" -test.benchtime 6x 2>&1 | grep -E 'Bench')
    done
  done | tee /tmp/blocks.txt
  blocks_table < /tmp/blocks.txt
  # The golden cases, then whole bfloat16 captions, with each other family as the bfloat16
  # kernel (built with -tags amxtile, amxcols) beside the default, alternating.
  step golden cases and bfloat16 captions on amx-bf16 and amx-bf16-cols, 2 pinned cores
  for x in tile cols; do
    (cd $R/blip && timeout 90 $D/blip-$x.test -test.run 'BFloat16|Golden' -test.v 2>&1 | grep -E '^(--- FAIL|ok|FAIL|PASS)|identical|kernel' | tail -8)
  done
  [ -d /tmp/hash ] || $D/hashmodel -out /tmp/hash
  for round in 1 2; do
    for b in bench bench-tile bench-cols; do $TS timeout 60 $D/$b -model /tmp/hash -image $IMG -reps 2 -tokens 19 -threads 2 -precision bfloat16; done
  done
}

families() {
  step float32 kernel families inside MatMul, alternating, 2 pinned cores
  for round in 1 2 3 4; do
    (cd $K && $TS timeout 20 $D/kernels.test -test.run '^$' -test.bench 'PeakFMA' -test.benchtime 0.2s 2>&1 | grep -E 'Bench')
    # The chosen family (14x32) with A read in place and copied apart (Kernel.InPlaceA: copied
    # on Intel until these rows say otherwise), the others as this CPU reads A.
    for f in avx512 avx512n48 avx512n64; do
      a=.; [ $f = avx512 ] || a='^a=copied$'
      (cd $R/tensor && $TS timeout 40 $D/tensor.test -test.run '^$' -test.bench "MatMulKernels/^$f\$/577x(1024x4096|4096x1024)/./$a" -test.benchtime 6x 2>&1 | grep -E 'Bench')
    done
  done
}

model() {
  step hash model
  [ -d /tmp/hash ] || $D/hashmodel -out /tmp/hash
  step blipgo and transformers, 2 pinned cores
  # CPU profiles (symbolised: read them here with go tool pprof -top FILE) come back in $OUT.
  for p in float32 bfloat16; do $TS timeout 90 $D/bench -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 2 -precision $p -cpuprofile $O/cpu-2cores-$p.pprof; done
  $TS timeout 120 python3 $D/hf_bench.py 2
  if [ -x $D/bench-inplace ]; then
    # Whole float32 runs with A read in place (tag inplacea; Intel copies today, see
    # kernels.readsAliasedRows) beside today's, alternating: on the Zen 5 in place won by 3-9%
    # of the vision encoder where the kernel benchmarks were within their noise.
    step float32 with A read in place beside today\'s copy, alternating, 2 pinned cores
    for b in bench-inplace bench bench-inplace bench; do $TS timeout 60 $D/$b -model /tmp/hash -image $IMG -reps 2 -tokens 1 -threads 2 -precision float32; done
  fi
  if [ -x $D/bench-base ]; then
    step the base revision\'s bench, 2 pinned cores, then 16 threads
    for p in float32 bfloat16; do $TS timeout 90 $D/bench-base -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 2 -precision $p; done
    for p in float32 bfloat16; do timeout 60 $D/bench-base -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 16 -precision $p; done
  fi
  sixteen
}

sixteen() {
  [ -d /tmp/hash ] || $D/hashmodel -out /tmp/hash
  step blipgo and transformers, 16 threads
  for p in float32 bfloat16; do timeout 60 $D/bench -model /tmp/hash -image $IMG -reps 3 -tokens 19 -threads 16 -precision $p -cpuprofile $O/cpu-16threads-$p.pprof; done
  timeout 60 python3 $D/hf_bench.py 16
}

pool() {
  step the pool\'s fork and join by threads
  (cd $R/tensor && timeout 60 $D/tensor.test -test.run '^$' -test.bench 'PoolFor' -test.cpu 2,4,8,16 -test.count 2 2>&1 | grep -E 'Bench')
  if [ -x $D/tensor-base.test ] && ! cmp -s $D/tensor.test $D/tensor-base.test; then
    echo "base revision:"
    (cd $R/tensor && timeout 30 $D/tensor-base.test -test.run '^$' -test.bench 'PoolFor' -test.cpu 2,16 -test.count 2 2>&1 | grep -E 'Bench')
  fi
}

threads() {
  [ -d /tmp/hash ] || $D/hashmodel -out /tmp/hash
  step float32 by threads: 4 and 8 \(decode steps slowed from 4 threads to 16 in the third session\'s run\)
  for t in 4 8; do timeout 40 $D/bench -model /tmp/hash -image $IMG -reps 2 -tokens 19 -threads $t -precision float32; done
}

accuracy() {
  [ -d /tmp/hash ] || $D/hashmodel -out /tmp/hash
  step full-size accuracy
  (cd $R/internal/hashmodel && BLIPGO_FULLSIZE=1 BLIPGO_HASHMODEL=/tmp/hash timeout 90 $D/hashmodel.test -test.run TestFullSize -test.v 2>&1 | grep -E 'kernel|diff|ids|gaps|---|^(ok|FAIL|PASS)')
}

# Without AMX (the GPU host's CPU may be an AMD EPYC) the AMX families have nothing to
# measure: the float32 families inside MatMul take their minutes instead.
DEFAULT="correctness kernels columns model pool threads accuracy"
[[ " $FEATURES " == *" amx_bf16 "* ]] || DEFAULT="correctness kernels families model pool threads accuracy"
for s in ${@:-$DEFAULT}; do
  case $s in
    correctness|fuzz|kernels|columns|families|model|sixteen|pool|threads|accuracy) $s ;;
    *) echo "run.sh: unknown section $s"; exit 2 ;;
  esac
done
step done
