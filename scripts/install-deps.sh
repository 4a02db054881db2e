#!/usr/bin/env bash
# Installs what building and testing Locus needs on a fresh Debian machine, and nothing when it
# is already there. The Swift toolchain (with clang 21) is expected at /opt/swift or on PATH.
set -euo pipefail

need=()
# OpenMP for clang 21: Debian's libomp-dev is LLVM 14 and fails to link (__kmpc_dispatch_deinit).
[ -e /usr/lib/llvm-19/lib/libomp.so ] || need+=(libomp-19-dev)
# zlib, which LocusTraining reads the data set's gzip files with.
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
# pkg-config, which C programs use to link a library of `locus compile --emit c-library`.
command -v pkg-config >/dev/null || need+=(pkgconf)
# The demo data set (Fashion-MNIST), used by the examples and the training tests.
[ -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "locus needs: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} ..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
