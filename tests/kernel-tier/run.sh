#!/usr/bin/env bash
# Boots a stock Debian kernel in QEMU and runs one static test binary inside it, against
# real kernel devices: i2c-stub + i2c-dev (an SMBus-only adapter, /dev/i2c-0) and msr
# (/dev/cpu/0/msr). The hwmon drivers jc42 and lm75 are shipped in the guest at
# /lib/modules/extra/ but not loaded: the test binary prepares the stub's registers first
# and then binds them itself.
#
# Usage: tests/kernel-tier/run.sh STATIC_BINARY [ARGS...]
#
# Everything comes from Debian packages: qemu-system-x86, busybox-static, kmod and cpio are
# installed when missing (--no-install-recommends: without it QEMU brings a GUI stack);
# the kernel package is only downloaded and unpacked (dpkg-deb -x), never installed.
# Downloads are cached in $KERNEL_TIER_CACHE (default target/kernel-tier/, git-ignored, or
# kernel-tier/ under $CARGO_TARGET_DIR).
#
# When a component cannot be had (no root to install, no network, not x86_64) the run
# prints "SKIP: ..." and exits 0, unless SOVEREIGN_REQUIRE_KERNEL_TIER=1 or CI=true, where
# a skip is a failure. Otherwise the exit status is the guest test's, 124 on a timeout,
# 125 when the guest never reported a result.
#
# Environment: KERNEL_TIER_CACHE, KERNEL_TIER_TIMEOUT (seconds, default 120),
# KERNEL_TIER_KERNEL_PKG (default linux-image-amd64), KERNEL_TIER_DMESG=1 (print the
# guest's kernel log after the test).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KERNEL_TIER_CACHE:-${CARGO_TARGET_DIR:-$repo/target}/kernel-tier}
timeout_s=${KERNEL_TIER_TIMEOUT:-120}
kernel_pkg=${KERNEL_TIER_KERNEL_PKG:-linux-image-amd64}

# The chips the guest test talks to: 0x18 JC-42.4 (jc42), 0x48 LM75 (lm75), 0x50 a plain
# register file. i2c-stub takes at most 10 addresses.
stub_addresses=0x18,0x48,0x50
loaded_modules=("i2c-stub chip_addr=$stub_addresses" "i2c-dev" "msr")
extra_modules=(jc42 lm75)

log() { echo "kernel-tier: $*" >&2; }
required() { [[ ${SOVEREIGN_REQUIRE_KERNEL_TIER:-0} == 1 || ${CI:-} == true ]]; }
unavailable() {
    if required; then
        echo "FAIL: kernel tier required (SOVEREIGN_REQUIRE_KERNEL_TIER=1 or CI=true) but $*" >&2
        exit 1
    fi
    echo "SKIP: kernel tier: $*" >&2
    echo "SKIP: (set SOVEREIGN_REQUIRE_KERNEL_TIER=1 to make this a failure)" >&2
    exit 0
}
die() { echo "kernel-tier: error: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 STATIC_BINARY [ARGS...]"
test_bin=$(readlink -f "$1")
shift
[[ -x $test_bin ]] || die "$test_bin is not an executable file"
[[ $(uname -m) == x86_64 ]] || unavailable "the guest is x86_64 and this host is $(uname -m)"

# --- 1. host packages -------------------------------------------------------------------
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
# the guest's /bin/busybox must be static: there is no libc in the initramfs
{ [[ -x /bin/busybox ]] && file -L /bin/busybox | grep -q 'statically linked'; } || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v depmod >/dev/null || [[ -x /sbin/depmod ]] || missing+=(kmod)
command -v xz >/dev/null || missing+=(xz-utils)
command -v file >/dev/null || missing+=(file)
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || unavailable "missing ${missing[*]} and not root to install them"
    command -v apt-get >/dev/null || unavailable "missing ${missing[*]} and no apt-get"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null \
        || unavailable "apt-get install ${missing[*]} failed"
fi
depmod=$(command -v depmod || echo /sbin/depmod)
if file -L "$test_bin" | grep -q 'dynamically linked'; then
    die "$test_bin is dynamically linked; build it for x86_64-unknown-linux-musl"
fi

# --- 2. the kernel: downloaded, unpacked, depmod'ed; cached ---------------------------------
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one run at a time owns the cache
kdir=$cache/kernel
if [[ ! -e $kdir/.complete ]]; then
    log "downloading $kernel_pkg (first run only)"
    dl=$(mktemp -d "$cache/download.XXXXXX")
    trap 'rm -rf "$dl" "$kdir.new"' EXIT
    # apt's download sandbox user cannot write into target/; download as root instead
    fetch() { (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$1" >/dev/null 2>&1); }
    command -v apt-get >/dev/null || unavailable "no kernel cached and no apt-get to download $kernel_pkg"
    fetch "$kernel_pkg" || { apt-get update -qq >/dev/null 2>&1 && fetch "$kernel_pkg"; } \
        || unavailable "apt-get download $kernel_pkg failed (no network or no Debian archive?)"
    meta=$(ls "$dl"/*.deb | head -1)
    # the meta package depends on the versioned image: "linux-image-6.1.0-NN-amd64 (= ...)"
    image_pkg=$(dpkg-deb -f "$meta" Depends | sed 's/[ ,(|].*//')
    if [[ $image_pkg == linux-image-* ]]; then
        fetch "$image_pkg" || unavailable "apt-get download $image_pkg failed"
        deb=$(ls "$dl/${image_pkg}"_*.deb | head -1)
    else
        deb=$meta
    fi
    rm -rf "$kdir" "$kdir.new"
    mkdir -p "$kdir.new"
    dpkg-deb -x "$deb" "$kdir.new"
    kver=$(ls "$kdir.new/lib/modules" | head -1)
    # the package's postinst would make modules.dep; we never install it, so run depmod
    "$depmod" -b "$kdir.new" "$kver" || die "depmod -b failed"

    # Under TCG, booting the uncompressed ELF vmlinux through QEMU's PVH entry is about
    # twice as fast as the bzImage (no in-guest xz decompression, no real-mode setup).
    # The bzImage carries vmlinux as one compressed stream: find its magic, decompress.
    vmlinuz=$(ls "$kdir.new"/boot/vmlinuz-* | head -1)
    off=$(set +o pipefail; LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
    if [[ -n $off ]]; then
        (set +o pipefail; tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream 2>/dev/null) \
            >"$kdir.new/vmlinux" || true
    fi
    if [[ $(head -c 4 "$kdir.new/vmlinux" 2>/dev/null | od -An -c | tr -d ' ') != 177ELF ]]; then
        rm -f "$kdir.new/vmlinux"
        log "could not extract vmlinux from $vmlinuz; will boot the bzImage (slower)"
    fi
    touch "$kdir.new/.complete"
    mv "$kdir.new" "$kdir"
    rm -rf "$dl"
fi
kver=$(ls "$kdir/lib/modules" | head -1)
moddir=$kdir/lib/modules/$kver
if [[ -s $kdir/vmlinux ]]; then kernel_img=$kdir/vmlinux; else kernel_img=$(ls "$kdir"/boot/vmlinuz-* | head -1); fi

# --- 3. initramfs: busybox, the modules, the test binary, /init ------------------------------
work=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$work"' EXIT # QEMU itself is ended by timeout(1), also on Ctrl-C
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,test,lib/modules/boot,lib/modules/extra}
cp /bin/busybox "$root/bin/busybox"
# a test binary is large mostly in debug info; the guest's serial console never needs it
strip -o "$root/test/guest" "$test_bin" 2>/dev/null || cp "$test_bin" "$root/test/guest"

module_file() { # module name -> path relative to $moddir ('-' and '_' are the same)
    grep -m1 -E "(^|/)${1//[-_]/[-_]}\.ko(\.xz|\.zst)?:" "$moddir/modules.dep" | cut -d: -f1
}
built_in() { grep -qE "(^|/)${1//[-_]/[-_]}\.ko$" "$moddir/modules.builtin"; }
copy_module() { # relative path, destination: decompressed, because busybox insmod loads raw bytes
    case $1 in
        *.xz) xz -dc "$moddir/$1" >"$2" ;;
        *.zst) zstd -qdc "$moddir/$1" >"$2" ;;
        *) cp "$moddir/$1" "$2" ;;
    esac
}
declare -A queued=()
load_script=""
n=10
queue_load() { # relative path [params]: its dependencies first (modules.dep lists nearest first)
    local rel=$1 params=${2:-} deps=() d i
    [[ -n ${queued[$rel]:-} ]] && return 0
    read -ra deps <<<"$(grep -E "^$rel:" "$moddir/modules.dep" | cut -d: -f2)"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do queue_load "${deps[i]}"; done
    queued[$rel]=1
    local name
    name=$(basename "$rel")
    name=${name%%.ko*}
    copy_module "$rel" "$root/lib/modules/boot/$n-$name.ko"
    load_script+="load /lib/modules/boot/$n-$name.ko $params"$'\n'
    n=$((n + 1))
}
for spec in "${loaded_modules[@]}"; do
    name=${spec%% *}
    params=""
    [[ $spec == *" "* ]] && params=${spec#* }
    built_in "$name" && continue
    rel=$(module_file "$name")
    [[ -n $rel ]] || die "module $name is not in kernel $kver"
    queue_load "$rel" "$params"
done
for name in "${extra_modules[@]}"; do
    built_in "$name" && continue
    rel=$(module_file "$name")
    [[ -n $rel ]] || die "module $name is not in kernel $kver"
    # its dependencies are loaded at boot (they bind nothing); the module itself is left
    # for the test, which must fill the chip's registers before the driver probes
    read -ra deps <<<"$(grep -E "^$rel:" "$moddir/modules.dep" | cut -d: -f2)"
    for d in "${deps[@]}"; do queue_load "$d"; done
    copy_module "$rel" "$root/lib/modules/extra/$name.ko"
done

args=""
for a in "$@"; do args+=" '${a//\'/\'\\\'\'}'"; done
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
load() {
    if ! out=\$(insmod "\$@" 2>&1); then echo "KT-MODULE-FAILED \$*: \$out"; fi
}
$load_script
echo "KT-TEST-START"
/test/guest$args </dev/null
rc=\$?
[ "${KERNEL_TIER_DMESG:-0}" = 1 ] && dmesg
echo "KT-EXIT-STATUS \$rc"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd"

# --- 4. boot -----------------------------------------------------------------------------
# TCG, not KVM: this machine's /dev/kvm is kvm_pvm, which only runs PVM guest kernels (a
# stock kernel hangs). -nodefaults: no NIC, no VGA; the serial port is the only device.
# panic=-1 + -no-reboot turn a kernel panic into QEMU's exit instead of a reboot loop.
log "booting kernel $kver ($(basename "$kernel_img")) under TCG"
serial=$work/serial.log
: >"$serial"
t0=$(date +%s%N)
timeout -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 \
    -display none -no-reboot -nodefaults -monitor none -serial file:"$serial" \
    -kernel "$kernel_img" -initrd "$work/initrd" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1" </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
# timeout(1) forwards a TERM to QEMU: never leave a guest running behind us
trap 'kill $qemu_pid 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
tail -s 0.1 -n +1 -f --pid=$qemu_pid "$serial" | tr -d '\r' &
tail_pid=$!
qemu_rc=0
wait $qemu_pid || qemu_rc=$?
wait $tail_pid || true
elapsed=$((($(date +%s%N) - t0) / 1000000))
tr -d '\r' <"$serial" >"$serial.txt"
serial=$serial.txt
if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
    log "timeout: the guest did not finish within ${timeout_s}s"
    exit 124
fi
if grep -q '^KT-MODULE-FAILED' "$serial"; then
    log "a kernel module failed to load in the guest (see KT-MODULE-FAILED above)"
    exit 125
fi
status=$(sed -n 's/^KT-EXIT-STATUS \([0-9]*\)$/\1/p' "$serial" | tail -1)
if [[ -z $status ]]; then
    log "the guest never reported a test result (QEMU exit $qemu_rc after ${elapsed} ms)"
    cat "$work/qemu.out" >&2
    exit 125
fi
log "guest finished in ${elapsed} ms, test exit status $status"
[[ $status == 0 ]] || exit "$status"
# The guest binary is a cargo test binary: a green run must have run tests, and none may
# have been left out (all guest tests are #[ignore]d on the host and run with
# --include-ignored here).
summary=$(grep -E '^test result: ' "$serial" | tail -1)
if ! [[ $summary =~ ^test\ result:\ ok\.\ ([0-9]+)\ passed\;\ 0\ failed\;\ 0\ ignored ]] \
    || ((BASH_REMATCH[1] == 0)); then
    log "the guest exited 0 but its test summary is not 'ok, N>0 passed, 0 ignored': ${summary:-none}"
    exit 1
fi
